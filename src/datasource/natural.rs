//! Natural sort order for file names: runs of digits compare as numbers, so `part-2` comes
//! before `part-10`. Shards of one table are read, and numbered by `_row`, in this order.

use std::cmp::Ordering;

/// Compare two names (or paths) naturally.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    // Shards share long prefixes (`data/shards/part-`): skip what is equal, back to the start
    // of the digit run it ends in (a number is compared whole).
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut start = common_prefix(a, b);
    while start > 0 && a[start - 1].is_ascii_digit() {
        start -= 1;
    }
    natural_cmp_bytes(&a[start..], &b[start..])
}

/// Length of the common prefix of `a` and `b`, eight bytes a step: shards' paths share dozens.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let shorter = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= shorter {
        let word = |s: &[u8]| u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"));
        let differ = word(a) ^ word(b);
        if differ != 0 {
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..shorter].iter().zip(&b[at..shorter]).take_while(|(x, y)| x == y).count()
}

fn natural_cmp_bytes(mut a: &[u8], mut b: &[u8]) -> Ordering {
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let order = compare_numbers(da, db);
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// The positions of `len` names (`name(i)` for each `i`) in natural order: item `order[k]` comes
/// k-th. As `u32`s, so that the order of 100,000 shards is 400 KB.
pub fn natural_order<'a>(len: usize, name: impl Fn(usize) -> &'a str) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len).map(|i| u32::try_from(i).expect("fewer than 2^32 files")).collect();
    // Unstable: names of one listing are unique.
    order.sort_unstable_by(|&a, &b| natural_cmp(name(a as usize), name(b as usize)));
    order
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Numeric comparison of digit strings of any length; on equal value the shorter (fewer leading
/// zeros) comes first so that the order stays total.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (ta, tb) = (&a[strip(a)..], &b[strip(b)..]);
    ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        let mut names = vec!["part-10.npy", "part-2.npy", "part-1.npy", "part-12.npy", "part-02.npy"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["part-1.npy", "part-2.npy", "part-02.npy", "part-10.npy", "part-12.npy"]);
    }

    #[test]
    fn skipping_the_common_prefix_changes_no_order() {
        let names = [
            "part-1", "part-10", "part-10x", "part-1005", "part-100", "part-01", "part-001", "part-1.npy", "part-10.npy",
            "part-2", "part-", "part", "a1b2", "a1b10", "a01b2", "a1b02", "x9", "x10", "", "9", "09", "d/part-7.npy",
        ];
        for a in names {
            for b in names {
                assert_eq!(natural_cmp(a, b), natural_cmp_bytes(a.as_bytes(), b.as_bytes()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn common_prefixes_of_every_length() {
        let base = b"data/shards/part-0123456789.npy";
        for cut in 0..=base.len() {
            let mut other = base.to_vec();
            if cut < other.len() {
                other[cut] ^= 1;
            }
            assert_eq!(common_prefix(base, &other), cut, "{cut}");
            assert_eq!(common_prefix(&base[..cut], base), cut);
        }
    }

    #[test]
    fn orders_positions_naturally() {
        let names = ["part-10", "part-2", "b", "part-1", "a", "part-02", "part-100", "c/x", "part-3"];
        let mut sorted = names.to_vec();
        sorted.sort_by(|a, b| natural_cmp(a, b));
        let order = natural_order(names.len(), |i| names[i]);
        let ordered: Vec<&str> = order.iter().map(|&i| names[i as usize]).collect();
        assert_eq!(ordered, sorted);
    }

    #[test]
    fn text_compares_bytewise() {
        assert_eq!(natural_cmp("a/x1", "b/x0"), Ordering::Less);
        assert_eq!(natural_cmp("x", "x1"), Ordering::Less);
        assert_eq!(natural_cmp("99999999999999999999999", "100000000000000000000000"), Ordering::Less);
    }
}
