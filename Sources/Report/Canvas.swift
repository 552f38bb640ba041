import Foundation
import CPNG

/// An RGB image in memory (8 bits per channel, rows top to bottom) with the few drawing
/// operations the figures need: pixels, lines of a given thickness (dashed or not), filled
/// rectangles, and text in `BitmapFont` at an integer scale.
public struct Canvas {
    public struct Color: Equatable {
        public var r, g, b: UInt8
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
        public static let white = Color(255, 255, 255), black = Color(0, 0, 0), gray = Color(150, 150, 150)
        public static let lightGray = Color(225, 225, 225)
        /// A palette that stays apart in print and for common colour blindness (Okabe–Ito).
        public static let palette = [Color(0, 114, 178), Color(230, 159, 0), Color(0, 158, 115), Color(204, 121, 167),
                                     Color(213, 94, 0), Color(86, 180, 233), Color(240, 228, 66), Color(0, 0, 0)]
        /// The colour mixed half-way to white (a reference run beside this one).
        public var faded: Color {
            Color(UInt8((Int(r) + 255) / 2), UInt8((Int(g) + 255) / 2), UInt8((Int(b) + 255) / 2))
        }
    }

    public let width: Int, height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = .white) {
        precondition(width > 0 && height > 0)
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0 ..< width * height { pixels[3 * i] = background.r; pixels[3 * i + 1] = background.g; pixels[3 * i + 2] = background.b }
    }

    init(width: Int, height: Int, pixels: [UInt8]) { self.width = width; self.height = height; self.pixels = pixels }

    public func color(at x: Int, _ y: Int) -> Color {
        let i = 3 * (y * width + x)
        return Color(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    /// The rectangle clipped to the canvas; nothing where it lies wholly outside.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ c: Color) {
        let top = max(0, y), bottom = min(height, y + h), left = max(0, x), right = min(width, x + w)
        guard top < bottom, left < right else { return }
        for yy in top ..< bottom { for xx in left ..< right { set(xx, yy, c) } }
    }

    /// A line from (x0, y0) to (x1, y1), `thickness` pixels wide; `dash` > 0 draws dashes of
    /// that many pixels with gaps as long.
    public mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Color, thickness: Int = 1, dash: Int = 0) {
        let length = max(abs(x1 - x0), abs(y1 - y0))
        let steps = max(1, Int(length.rounded(.up)))
        let half = (thickness - 1) / 2
        for s in 0 ... steps {
            if dash > 0 && (s / dash) % 2 == 1 { continue }
            let t = Double(s) / Double(steps)
            let x = Int((x0 + (x1 - x0) * t).rounded()), y = Int((y0 + (y1 - y0) * t).rounded())
            fillRect(x: x - half, y: y - half, width: thickness, height: thickness, c)
        }
    }

    /// Text with its top-left corner at (x, y); `vertical` draws it rotated a quarter turn
    /// counter-clockwise (reading upwards), with (x, y) its bottom-left corner.
    public mutating func text(_ s: String, x: Int, y: Int, _ c: Color = .black, scale: Int = 1, vertical: Bool = false) {
        var offset = 0
        for character in s {
            for gy in 0 ..< BitmapFont.glyphHeight {
                for gx in 0 ..< BitmapFont.glyphWidth where BitmapFont.pixel(character, gx, gy) {
                    let px = offset + gx * scale, py = gy * scale
                    if vertical { fillRect(x: x + py, y: y - px - scale, width: scale, height: scale, c) }
                    else { fillRect(x: x + px, y: y + py, width: scale, height: scale, c) }
                }
            }
            offset += BitmapFont.advance * scale
        }
    }
}

public enum PNGError: Error, CustomStringConvertible, Equatable {
    case write(path: String, reason: String), read(path: String, reason: String)
    public var description: String {
        switch self {
        case .write(let path, let reason): return "\(path): cannot write the PNG (\(reason))"
        case .read(let path, let reason): return "\(path): not a readable PNG (\(reason))"
        }
    }
}

/// PNG files through libpng's simplified API.
public enum PNGFile {
    /// PNG_FORMAT_RGB: 8-bit samples, colour, no alpha.
    static let formatRGB: png_uint_32 = 2

    /// Writes `canvas` to `path`, through a temporary file renamed over it (never half a PNG).
    public static func write(_ canvas: Canvas, to path: String) throws {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(canvas.width); image.height = png_uint_32(canvas.height)
        image.format = formatRGB
        let tmp = path + ".tmp-\(getpid())"
        let ok = canvas.pixels.withUnsafeBufferPointer { buffer in
            png_image_write_to_file(&image, tmp, 0, buffer.baseAddress, png_int_32(canvas.width * 3), nil)
        }
        if ok == 0 {
            let reason = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            png_image_free(&image)
            try? FileManager.default.removeItem(atPath: tmp)
            throw PNGError.write(path: path, reason: reason)
        }
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw PNGError.write(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Reads an RGB (or converted to RGB) PNG.
    public static func read(_ path: String) throws -> Canvas {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        func message() -> String { withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) } }
        guard FileManager.default.fileExists(atPath: path) else { throw PNGError.read(path: path, reason: "no such file") }
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            let reason = message(); png_image_free(&image)
            throw PNGError.read(path: path, reason: reason)
        }
        image.format = formatRGB
        let width = Int(image.width), height = Int(image.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let ok = pixels.withUnsafeMutableBufferPointer { png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width * 3), nil) }
        guard ok != 0 else {
            let reason = message(); png_image_free(&image)
            throw PNGError.read(path: path, reason: reason)
        }
        return Canvas(width: width, height: height, pixels: pixels)
    }
}
