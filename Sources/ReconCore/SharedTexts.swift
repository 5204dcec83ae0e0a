/// One copy of each text among many equal ones: `shared` gives back the first instance of an
/// equal text, so the others are freed at once instead of each being kept (a plan's reasons, a
/// night's finding details and match keys: a few texts repeated hundreds of thousands of times).
struct SharedTexts {
    private var seen: Set<String> = []

    mutating func shared(_ text: String) -> String {
        // Texts of up to 15 bytes are stored inside the String itself: nothing to share.
        if text.utf8.count <= 15 { return text }
        return seen.insert(text).memberAfterInsert
    }
}
