//! Natural sort order for shard file names: `part-2` before `part-10`, as a person would list
//! them (SPEC §5). Runs of digits compare as numbers, everything else as text.

use std::cmp::Ordering;

/// Compare two names in natural order. Names that are equal as numbers but differ in leading
/// zeros (`a01`, `a1`) fall back to plain text order, so the order is total and stable.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut left, mut right) = (Chunks::new(a), Chunks::new(b));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = compare_chunks(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_chunks(x: &str, y: &str) -> Ordering {
    let is_number = |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if is_number(x) && is_number(y) {
        // Compare digit strings as numbers of any length: fewer significant digits is smaller.
        let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    } else {
        x.cmp(y)
    }
}

/// Splits a string into maximal runs of ASCII digits and of everything else.
struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Chunks<'a> {
    fn new(s: &'a str) -> Self {
        Chunks { rest: s }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let first = self.rest.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = self.rest.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(self.rest.len());
        let (chunk, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::compare;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| compare(a, b));
        v
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(
            sorted(&["part-10.npy", "part-2.npy", "part-1.npy", "part-11.npy"]),
            ["part-1.npy", "part-2.npy", "part-10.npy", "part-11.npy"]
        );
    }

    #[test]
    fn text_and_prefixes() {
        assert_eq!(sorted(&["b1", "a10", "a2", "a"]), ["a", "a2", "a10", "b1"]);
    }

    #[test]
    fn leading_zeros_are_a_tie_broken_by_text() {
        assert_eq!(sorted(&["x1", "x01", "x001", "x2"]), ["x001", "x01", "x1", "x2"]);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        assert_eq!(
            sorted(&["p99999999999999999999999", "p100000000000000000000000"]),
            ["p99999999999999999999999", "p100000000000000000000000"]
        );
    }
}
