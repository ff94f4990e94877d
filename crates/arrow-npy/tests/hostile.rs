//! Hostile input costs little: the largest header the cap allows, and the shapes of header an
//! attacker would pick (a huge shape, deep nesting, a million fields, many keys), each parse
//! or fail within a bounded amount of memory (4× the header) and time.
//!
//! Its own test binary, because it counts every allocation through a global allocator: its
//! tests take turns (and run their cases in turn) so that no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow_npy::header::{parse_header, DEFAULT_MAX_HEADER_LEN};
use arrow_npy::{NpyTable, OpenOptions};

/// The system allocator, counting the bytes live and their peak since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as both blocks being live at once, as a moving realloc has them.
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Run `f`; its peak allocation beyond what was live before, and its time.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    (out, PEAK.load(Ordering::Relaxed) - before, elapsed)
}

/// A version 2.0 `.npy` preamble + `text` padded with spaces and a newline to exactly `len`
/// bytes of header, as numpy pads its own.
fn npy_with_header(text: &str, len: usize) -> Vec<u8> {
    assert!(text.len() < len, "header text {} longer than {len}", text.len());
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&(len as u32).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.resize(12 + len - 1, b' ');
    bytes.push(b'\n');
    bytes
}

/// `{'descr': DESCR, 'fortran_order': False, 'shape': SHAPE}`, the descr and shape repeating
/// `unit` until the header is as long as the cap allows.
fn filled(prefix: &str, unit: &str, suffix: &str) -> String {
    let room = DEFAULT_MAX_HEADER_LEN as usize - prefix.len() - suffix.len() - 1;
    let mut text = String::with_capacity(DEFAULT_MAX_HEADER_LEN as usize);
    text.push_str(prefix);
    while text.len() + unit.len() <= prefix.len() + room {
        text.push_str(unit);
    }
    text.push_str(suffix);
    text
}

/// A million distinct short field names: `f` + base-36 digits.
fn million_fields() -> String {
    let mut text = String::from("{'descr': [");
    for i in 0..1_000_000u32 {
        let mut name = String::new();
        let mut n = i;
        loop {
            name.push(char::from_digit(n % 36, 36).unwrap());
            n /= 36;
            if n == 0 {
                break;
            }
        }
        text.push_str(&format!("('{name}','i1'),"));
    }
    text.push_str("], 'fortran_order': False, 'shape': (1,)}");
    text
}

/// Both tests count through the one allocator: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn hostile_headers_cost_little() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cap = DEFAULT_MAX_HEADER_LEN as usize;
    let cases: Vec<(&str, String)> = vec![
        ("a shape of millions of dimensions", filled("{'descr': '<f8', 'fortran_order': False, 'shape': (", "1,", ")}")),
        ("a descr of millions of empty lists", filled("{'fortran_order': False, 'shape': (1,), 'descr': [", "[],", "]}")),
        ("a descr of millions of ints", filled("{'fortran_order': False, 'shape': (1,), 'descr': [", "1,", "]}")),
        ("a 16 MiB type string", filled("{'fortran_order': False, 'shape': (1,), 'descr': '", "f", "'}")),
        ("a 16 MiB string of escapes", filled("{'fortran_order': False, 'shape': (1,), 'descr': '", "\\x41", "'}")),
        ("a million repeated keys", filled("{", "'descr': '<f8', ", "'fortran_order': False, 'shape': (1,)}")),
        ("a deeply nested descr", filled("{'fortran_order': False, 'shape': (1,), 'descr': ", "[", "")),
        ("a record nested 30 deep", {
            let mut descr = String::from("'<i4'");
            for _ in 0..30 {
                descr = format!("[('a', {descr})]");
            }
            format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,)}}")
        }),
        ("a million-field record", million_fields()),
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (what, text) in cases {
        let len = cap.max(text.len() + 1);
        let file = npy_with_header(&text, len);
        drop(text);
        let (result, peak, elapsed) = measure(|| parse_header(&file, DEFAULT_MAX_HEADER_LEN).map(|_| ()));
        let outcome = match &result {
            Ok(()) => "parsed".to_string(),
            Err(e) => format!("refused: {}", e.to_string().chars().take(100).collect::<String>()),
        };
        report.push(format!("{what}: {:.1} MiB peak, {:?}; {outcome}", peak as f64 / (1 << 20) as f64, elapsed));
        // The bounds: memory at most 4× the header; time generous enough for a debug build
        // under load (release: well under 1 s, see the README).
        if peak > 4 * cap || elapsed > Duration::from_secs(60) {
            failures.push(format!("{what}: {peak} bytes allocated for a {len}-byte header, {elapsed:?} ({outcome})"));
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "over the bounds:\n{}", failures.join("\n"));
}

/// Opening (and reading) files whose headers claim more than they hold, or ask for a table of
/// many columns, within the same bounds: the caps are checked before anything is allocated.
#[test]
fn hostile_tables_cost_little() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cap = DEFAULT_MAX_HEADER_LEN as usize;
    // As many fields as the value budget allows (three values each), one byte of data each.
    let fields = arrow_npy::literal::MAX_VALUES / 3 - 10;
    let mut record = String::from("{'descr': [");
    for i in 0..fields {
        record.push_str(&format!("('f{i}','i1'),"));
    }
    record.push_str("], 'fortran_order': False, 'shape': (2,)}");
    let mut wide = npy_with_header(&record, record.len() + 64);
    wide.extend(std::iter::repeat_n(7u8, 2 * fields));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a shape claiming 10^15 rows of a 16-byte file", {
            let mut file = npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000,)}", 128);
            file.extend_from_slice(&[0; 16]);
            file
        }),
        ("a shape claiming 2^64-1 rows", npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615,)}", 128)),
        ("a shape whose product overflows", npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", 128)),
        ("a sub-array of 2^62 items", npy_with_header("{'descr': [('a', '<f8', (4611686018427387904,))], 'fortran_order': False, 'shape': (1,)}", 128)),
        ("a record of the most fields the value budget allows", wide),
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (what, file) in cases {
        let (result, peak, elapsed) = measure(|| {
            let table = NpyTable::from_bytes("hostile.npy", file, &OpenOptions::default())?;
            let mut rows = 0;
            for batch in table.reader().build()? {
                rows += batch.map_err(|e| arrow_npy::NpyError::from(arrow_npy::ErrorKind::InvalidArgument(e.to_string())))?.num_rows();
            }
            Ok::<_, arrow_npy::NpyError>((table.schema().fields().len(), rows))
        });
        let outcome = match &result {
            Ok((columns, rows)) => format!("read {rows} rows of {columns} columns"),
            Err(e) => format!("refused: {}", e.to_string().chars().take(100).collect::<String>()),
        };
        report.push(format!("{what}: {:.1} MiB peak, {:?}; {outcome}", peak as f64 / (1 << 20) as f64, elapsed));
        if peak > 4 * cap || elapsed > Duration::from_secs(60) {
            failures.push(format!("{what}: {peak} bytes allocated, {elapsed:?} ({outcome})"));
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "over the bounds:\n{}", failures.join("\n"));
}
