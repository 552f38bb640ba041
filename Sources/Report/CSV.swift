import Foundation

/// RFC 4180 CSV: fields with a comma, quote or line break are quoted, quotes doubled.
public enum CSV {
    public static func escape(_ field: String) -> String {
        if field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return field
    }

    public static func line(_ fields: [String]) -> String { fields.map(escape).joined(separator: ",") + "\n" }

    /// Parses CSV text into rows of fields.
    public static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false, afterQuote = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false; afterQuote = true }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty && !afterQuote else { throw CSVError.malformed("a quote inside an unquoted field, row \(rows.count + 1)") }
                quoted = true
            case ",": row.append(field); field = ""; afterQuote = false
            case "\r": continue
            case "\n": row.append(field); rows.append(row); row = []; field = ""; afterQuote = false
            default:
                guard !afterQuote else { throw CSVError.malformed("text after a closing quote, row \(rows.count + 1)") }
                field.append(c)
            }
        }
        if quoted { throw CSVError.malformed("unterminated quoted field at the end") }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// Appends `fields` as one row to the CSV file at `path`, writing `header` first when the
    /// file is new. The file is replaced atomically (a temporary file renamed over it), so a
    /// reader or a killed process never sees half a row. An existing file whose header is one of
    /// `earlierHeaders` (`header` before columns were added at its end) is upgraded on the way:
    /// its rows get empty fields in the columns added since. A file with any other header is
    /// left untouched and reported.
    public static func appendRow(_ fields: [String], header: [String], earlierHeaders: [[String]] = [], to path: String) throws {
        precondition(fields.count == header.count)
        precondition(earlierHeaders.allSatisfy { isEarlierVersion($0, of: header) })
        let fm = FileManager.default
        var text = ""
        if fm.fileExists(atPath: path) {
            text = try String(contentsOfFile: path, encoding: .utf8)
            let existing = try parse(text)
            guard let first = existing.first else { throw CSVError.headerMismatch(path: path) }
            if earlierHeaders.contains(first) {
                text = line(header)
                for (i, row) in existing.dropFirst().enumerated() {
                    guard row.count == first.count else {
                        throw CSVError.malformed("\(path): row \(i + 2) has \(row.count) fields, its header \(first.count)")
                    }
                    text += line(row + Array(repeating: "", count: header.count - first.count))
                }
            } else {
                guard first == header else { throw CSVError.headerMismatch(path: path) }
                if !text.hasSuffix("\n") { text += "\n" }
            }
        } else {
            text = line(header)
        }
        text += line(fields)
        let tmp = path + ".tmp-\(getpid())"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else {
            try? fm.removeItem(atPath: tmp)
            throw CSVError.io("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether `old` could be `header` as it was before columns were added at its end: a
    /// shorter, non-empty header that `header` begins with.
    public static func isEarlierVersion(_ old: [String], of header: [String]) -> Bool {
        !old.isEmpty && old.count < header.count && Array(header.prefix(old.count)) == old
    }
}

public enum CSVError: Error, CustomStringConvertible {
    case malformed(String), headerMismatch(path: String), io(String)
    public var description: String {
        switch self {
        case .malformed(let why): return "malformed CSV: \(why)"
        case .headerMismatch(let path): return "\(path): its header is not the one this command writes; refusing to append (nothing was changed)"
        case .io(let why): return why
        }
    }
}
