@testable import ReconCore
@testable import ReconState
import Testing

/// The state's rows read as bytes (`StateStore.openFindings`): the numbers, types and entities
/// come out as their text would give them, at the edges too.
struct StateParsingTests {
    @Test func integersReadAsTheirTextWouldBe() {
        let texts = ["0", "7", "-7", "-0", "123456789012345678", "-123456789012345678",
                     String(Int64.max), String(Int64.min), "9223372036854775808", "-9223372036854775809",
                     "99999999999999999999", "12345678901234567890123", "", "-", "1a", "+5", " 5"]
        for text in texts {
            var t = text
            let parsed = t.withUTF8 { StateStore.integer($0) }
            // A sign or a space never comes from the server (only it writes these columns): not a number.
            let expected: Int64? = text.first == "+" || text.first == " " ? nil : Int64(text)
            #expect(parsed == expected, "\(text)")
        }
    }

    @Test func typesAndEntitiesReadFromTheirBytes() {
        for type in FindingType.allCases {
            var raw = type.rawValue
            #expect(raw.withUTF8 { FindingType(bytes: $0) } == type)
        }
        for entity in Entity.allCases {
            var raw = entity.rawValue
            #expect(raw.withUTF8 { Entity(bytes: $0) } == entity)
        }
        for other in ["", "Orphan", "orphans", "duplicat", "order ", "Customer", "conflicts"] {
            var raw = other
            #expect(raw.withUTF8 { FindingType(bytes: $0) } == nil && raw.withUTF8 { Entity(bytes: $0) } == nil)
        }
    }
}
