import XCTest
import Report

final class CSVTests: XCTestCase {
    func testCSVQuoting() throws {
        let line = CSV.line(["plain", "a,b", "say \"hi\"", "two\nlines"])
        XCTAssertEqual(line, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n")
        XCTAssertEqual(try CSV.parse(line), [["plain", "a,b", "say \"hi\"", "two\nlines"]])
        XCTAssertThrowsError(try CSV.parse("a,\"b\n"))
    }
}
