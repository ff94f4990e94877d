//! Lossless numpy round trips through `npyq convert` (issue 8 §3): every numpy-made fixture of
//! `tests/data/roundtrip/` goes to `.npy` (`.npz`) directly and through Arrow IPC (file and
//! stream) and Parquet, and back; the result must be numpy's own bytes (`np.save`, header
//! included) for the original, or, where numpy would write it differently (byte order, Fortran
//! order, datetime units), numpy's bytes for the array the writer gives back
//! (`expected/<name>`, see `make_roundtrip.py`).

use std::path::{Path, PathBuf};

use super::{assert_ok, assert_one_line_error, npyq, root};

fn roundtrip_dir() -> PathBuf {
    root().join("tests/data/roundtrip")
}

/// numpy's bytes for what fixture `name` should come back as.
fn expected_bytes(name: &str) -> Vec<u8> {
    let different = roundtrip_dir().join("expected").join(name);
    std::fs::read(if different.exists() { different } else { roundtrip_dir().join(name) }).unwrap()
}

fn fixtures(prefix: &str, extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(roundtrip_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(extension))
        .collect();
    names.sort();
    names
}

/// `npyq convert` along `path`: the input, then each intermediate output, then the last; an
/// error message (naming the step) if a step fails.
fn convert_along(steps: &[PathBuf]) -> Result<(), String> {
    for pair in steps.windows(2) {
        let run = npyq([std::ffi::OsStr::new("convert"), pair[0].as_os_str(), pair[1].as_os_str()]);
        if !run.status.success() {
            return Err(format!("{} -> {}: {}", pair[0].display(), pair[1].display(), super::stderr(&run).trim_end()));
        }
    }
    Ok(())
}

/// The members of an `.npz` as (name, bytes), in archive order (the compression, which the
/// writer tests compare, is the conversion's choice here).
fn npz_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    crate::writer::npz_members(path).into_iter().map(|(name, _, bytes)| (name, bytes)).collect()
}

/// Where two byte strings first differ, with the start of each (the header, usually).
fn difference(ours: &[u8], numpy: &[u8]) -> Option<String> {
    if ours == numpy {
        return None;
    }
    let at = ours.iter().zip(numpy).position(|(a, b)| a != b).unwrap_or(ours.len().min(numpy.len()));
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(160)]).into_owned();
    Some(format!("bytes differ at {at} (lengths {} vs {}):\n  ours:  {:?}\n  numpy: {:?}", ours.len(), numpy.len(), show(ours), show(numpy)))
}

/// The intermediate formats a round trip goes through (none: `.npy` → `.npy` directly).
const VIA: &[&str] = &["", "arrow", "arrows", "parquet"];

/// Fixtures that cannot go through Parquet, and why.
const NOT_THROUGH_PARQUET: &[(&str, &str)] = &[
    ("rt_no_fields.npy", "Parquet written with no columns keeps no row count (3 rows come back as 0)"),
    ("rt_no_fields_itemsize.npy", "Parquet written with no columns keeps no row count"),
    // Parquet has no second-precision timestamp: like pyarrow, every Parquet writer stores
    // milliseconds, so these come back as `<M8[ms]` holding the same instants (checked by
    // `interop::parquet_types`), not as `<M8[s]`.
    ("rt_M8_s.npy", "Parquet stores second-precision datetimes as milliseconds"),
    ("rt_M8_h.npy", "Parquet stores hour-precision datetimes as milliseconds"),
];

#[test]
fn every_npy_fixture_comes_back_as_numpy_wrote_it_directly_and_through_arrow_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let names = fixtures("rt_", ".npy");
    assert!(names.len() >= 63, "fixtures missing: run make_roundtrip.py");
    for name in &names {
        for via in VIA {
            if *via == "parquet" && NOT_THROUGH_PARQUET.iter().any(|(n, _)| n == name) {
                continue;
            }
            let mut steps = vec![roundtrip_dir().join(name)];
            if !via.is_empty() {
                steps.push(dir.path().join(format!("{name}.{via}")));
            }
            let out = dir.path().join(format!("{name}.via-{via}.npy"));
            steps.push(out.clone());
            let problem = match convert_along(&steps) {
                Err(e) => Some(e),
                Ok(()) => difference(&std::fs::read(&out).unwrap(), &expected_bytes(name)),
            };
            if let Some(problem) = problem {
                failures.push(format!("{name} via {}: {problem}", if via.is_empty() { "nothing" } else { via }));
            }
        }
    }
    assert!(failures.is_empty(), "{} round trip(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn npz_fixtures_come_back_member_for_member_directly_and_through_arrow_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for name in fixtures("rt_", ".npz") {
        for via in VIA {
            let mut steps = vec![roundtrip_dir().join(&name)];
            if !via.is_empty() {
                steps.push(dir.path().join(format!("{name}.{via}")));
            }
            let out = dir.path().join(format!("{name}.via-{via}.npz"));
            steps.push(out.clone());
            if let Err(e) = convert_along(&steps) {
                failures.push(format!("{name} via {via}: {e}"));
                continue;
            }
            let (ours, theirs) = (npz_members(&out), npz_members(&roundtrip_dir().join(&name)));
            let names = |m: &[(String, Vec<u8>)]| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            if names(&ours) != names(&theirs) {
                failures.push(format!("{name} via {via}: members {:?} vs numpy's {:?}", names(&ours), names(&theirs)));
                continue;
            }
            for ((member, a), (_, b)) in ours.iter().zip(&theirs) {
                if let Some(problem) = difference(a, b) {
                    failures.push(format!("{name} via {via}, member {member}: {problem}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} round trip(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn parquet_lists_of_one_length_become_an_n_by_k_array() {
    // pyarrow's list<float> (a null row becomes NaNs) and large_list<list<int16>>.
    let dir = tempfile::tempdir().unwrap();
    for name in ["list_f32", "list_nested_i2"] {
        let out = dir.path().join(format!("{name}.npy"));
        convert_along(&[roundtrip_dir().join(format!("{name}.parquet")), out.clone()]).unwrap();
        let expected = std::fs::read(roundtrip_dir().join("expected").join(format!("{name}.npy"))).unwrap();
        if let Some(problem) = difference(&std::fs::read(&out).unwrap(), &expected) {
            panic!("{name}: {problem}");
        }
    }
}

#[test]
fn a_ragged_parquet_list_is_an_error_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ragged.npy");
    let input = roundtrip_dir().join("list_ragged.parquet");
    let run = npyq([std::ffi::OsStr::new("convert"), input.as_os_str(), out.as_os_str()]);
    assert_one_line_error(&run, "column 'emb'");
    assert!(super::stderr(&run).contains("a list of 1 items after lists of 2"), "{}", super::stderr(&run));
    assert!(!out.exists());
}

#[test]
fn an_npz_without_members_has_a_schema_and_converts() {
    let input = roundtrip_dir().join("rt_empty.npz");
    let run = npyq([std::ffi::OsStr::new("schema"), input.as_os_str()]);
    assert_ok(&run);
    let report = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(report.contains("0 rows, 0 columns"), "{report}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.npz");
    convert_along(&[input.clone(), out.clone()]).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&input).unwrap(), "np.savez()'s empty archive");
}
