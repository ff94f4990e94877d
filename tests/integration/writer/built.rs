//! Batches built in Rust, written with `ArrayFileWriter`, compared byte for byte with what numpy
//! wrote for the same values (see `make_roundtrip.py`, the `built_*` files).

use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_npy::format::writer::NullPolicy;
use datafusion_npy::{ArrayFileWriter, ErrorKind, NpzCompression, WriteOptions};

use super::{assert_same_bytes, files_in, fixture, keep_for_numpy, npz_members, read};

fn write_all(
    path: &std::path::Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: WriteOptions,
) -> datafusion_npy::Result<()> {
    let mut writer = ArrayFileWriter::try_new(path, schema, options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// `n` = 0..3000, `x` = n / 2, optionally `s` = "s{n}", cut into batches of uneven sizes.
fn stream_batches(with_strings: bool) -> (SchemaRef, Vec<RecordBatch>) {
    let mut fields = vec![Field::new("n", DataType::Int64, false), Field::new("x", DataType::Float64, false)];
    if with_strings {
        fields.push(Field::new("s", DataType::Utf8, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    let (mut start, mut size) = (0i64, 1i64);
    while start < 3000 {
        let end = (start + size).min(3000);
        let n: Vec<i64> = (start..end).collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(n.clone())),
            Arc::new(Float64Array::from(n.iter().map(|&v| v as f64 / 2.0).collect::<Vec<_>>())),
        ];
        if with_strings {
            let strings: Vec<String> = n.iter().map(|v| format!("s{v}")).collect();
            columns.push(Arc::new(StringArray::from(strings)));
        }
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).unwrap());
        start = end;
        size = size * 3 % 257 + 1;
    }
    assert!(batches.len() > 20, "many batches");
    (schema, batches)
}

#[test]
fn streaming_many_batches_with_strings_matches_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stream.npy");
    let (schema, batches) = stream_batches(true);
    write_all(&out, schema, &batches, WriteOptions::default()).unwrap();
    keep_for_numpy(&out, "built_stream.npy");
    assert_same_bytes(&read(&out), &read(fixture("built_stream.npy")), "built_stream.npy");
    assert_eq!(files_in(dir.path()), ["stream.npy"], "no spill or temporary file left");
}

#[test]
fn streaming_many_batches_of_fixed_width_columns_matches_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixed.npy");
    let (schema, batches) = stream_batches(false);
    write_all(&out, schema, &batches, WriteOptions::default()).unwrap();
    keep_for_numpy(&out, "built_fixed_stream.npy");
    assert_same_bytes(&read(&out), &read(fixture("built_fixed_stream.npy")), "built_fixed_stream.npy");
    assert_eq!(files_in(dir.path()), ["fixed.npy"]);
}

#[test]
fn no_rows_gives_an_empty_array_with_one_character_strings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.npy");
    let schema =
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false), Field::new("s", DataType::Utf8, true)]));
    write_all(&out, schema, &[], WriteOptions::default()).unwrap();
    keep_for_numpy(&out, "built_empty.npy");
    assert_same_bytes(&read(&out), &read(fixture("built_empty.npy")), "built_empty.npy");
}

/// a = [0.0, 0.5, null], b = [[1, 2], [3, 4], [5, 6]], t = [0, null, 86400000] ms.
fn member_batches() -> (SchemaRef, Vec<RecordBatch>) {
    let list = FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
        vec![Some(vec![Some(1), Some(2)]), Some(vec![Some(3), Some(4)]), Some(vec![Some(5), Some(6)])],
        2,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("b", list.data_type().clone(), false),
        Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(0.0), Some(0.5), None])),
        Arc::new(list),
        Arc::new(TimestampMillisecondArray::from(vec![Some(0), None, Some(86_400_000)])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    // Two batches, to cross a batch boundary in every member.
    (schema, vec![batch.slice(0, 1), batch.slice(1, 2)])
}

fn check_npz(compression: NpzCompression, method: zip::CompressionMethod, numpy_file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("members.npz");
    let (schema, batches) = member_batches();
    write_all(&out, schema, &batches, WriteOptions::default().with_compression(compression)).unwrap();
    keep_for_numpy(&out, numpy_file);
    let ours = npz_members(&out);
    let numpy = npz_members(&fixture(numpy_file));
    let names: Vec<&str> = ours.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["a.npy", "b.npy", "t.npy"]);
    for ((name, our_method, ours), (_, numpy_method, theirs)) in ours.iter().zip(&numpy) {
        assert_eq!(our_method, &method, "{name}");
        assert_eq!(numpy_method, &method, "the fixture {numpy_file} is {numpy_method:?}");
        assert_same_bytes(ours, theirs, name);
    }
    assert_eq!(files_in(dir.path()), ["members.npz"]);
}

#[test]
fn npz_stored_members_match_np_savez() {
    check_npz(NpzCompression::Stored, zip::CompressionMethod::Stored, "built_members.npz");
}

#[test]
fn npz_deflated_members_match_np_savez_compressed() {
    check_npz(NpzCompression::Deflated, zip::CompressionMethod::Deflated, "built_members_deflated.npz");
}

#[test]
fn npz_members_are_zip64_like_numpys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.npz");
    let (schema, batches) = member_batches();
    write_all(&out, schema, &batches, WriteOptions::default()).unwrap();
    let bytes = read(&out);
    // Local file header: signature, then at offset 28 the extra field length; numpy's (forced
    // zip64) members carry the zip64 extra field, id 0x0001.
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let name_len = u16::from_le_bytes([bytes[26], bytes[27]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[28], bytes[29]]) as usize;
    assert!(extra_len >= 4, "no extra field");
    let extra = &bytes[30 + name_len..30 + name_len + extra_len];
    assert_eq!(&extra[..2], &[1, 0], "zip64 extra field first");
}

#[test]
fn non_latin1_column_names_give_version_3_like_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v3.npy");
    let schema = Arc::new(Schema::new(vec![
        Field::new("温度", DataType::Float64, false),
        Field::new("été", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Float64Array::from(vec![1.5])), Arc::new(Int32Array::from(vec![2]))],
    )
    .unwrap();
    write_all(&out, schema, &[batch], WriteOptions::default()).unwrap();
    let ours = read(&out);
    assert_eq!(&ours[6..8], &[3, 0]);
    assert_same_bytes(&ours, &read(fixture("rt_v3_names.npy")), "rt_v3_names.npy");
}

#[test]
fn a_header_longer_than_65535_bytes_gives_version_2_like_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wide.npy");
    let fields: Vec<Field> = (0..4000).map(|k| Field::new(format!("field_{k:04}"), DataType::Int32, false)).collect();
    let schema = Arc::new(Schema::new(fields));
    let columns: Vec<ArrayRef> = (0..4000)
        .map(|k| {
            let values = match k {
                0 => vec![1, 2],
                3999 => vec![3, 4],
                _ => vec![0, 0],
            };
            Arc::new(Int32Array::from(values)) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    write_all(&out, schema, &[batch], WriteOptions::default()).unwrap();
    let ours = read(&out);
    assert_eq!(&ours[6..8], &[2, 0]);
    assert_same_bytes(&ours, &read(fixture("rt_v2_wide.npy")), "rt_v2_wide.npy");
}

#[test]
fn a_null_integer_is_an_error_naming_the_column_and_no_file_appears() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.npy");
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("count", DataType::Int32, true),
    ]));
    let good = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Float64Array::from(vec![1.0, 2.0])), Arc::new(Int32Array::from(vec![1, 2]))],
    )
    .unwrap();
    let bad = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Float64Array::from(vec![None, Some(3.0)])), Arc::new(Int32Array::from(vec![Some(3), None]))],
    )
    .unwrap();
    let mut writer = ArrayFileWriter::try_new(&out, Arc::clone(&schema), WriteOptions::default()).unwrap();
    writer.write(&good).unwrap();
    let error = writer.write(&bad).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::Unwritable { .. }), "{error:?}");
    assert_eq!(error.location.column.as_deref(), Some("count"));
    let message = error.to_string();
    assert!(message.contains("bad.npy") && message.contains("row 3") && message.contains("int32"), "{message}");
    // The writer is done for: no more batches, no finish.
    assert!(writer.write(&good).unwrap_err().to_string().contains("earlier batch"));
    drop(writer);
    assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
}

#[test]
fn null_policy_zero_writes_zeros_for_types_without_a_missing_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("zeros.npy");
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int16, true)]));
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int16Array::from(vec![Some(7), None, Some(-1)]))])
            .unwrap();
    let mut writer =
        ArrayFileWriter::try_new(&out, schema, WriteOptions::default()).unwrap().with_nulls(NullPolicy::Zero);
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let bytes = read(&out);
    assert_eq!(bytes.len(), 128 + 6);
    assert_eq!(&bytes[128..], &[7, 0, 0, 0, 0xff, 0xff]);
    assert!(String::from_utf8_lossy(&bytes[..128])
        .starts_with("\u{fffd}NUMPY\u{1}\u{0}v\u{0}{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }"));
}

#[test]
fn an_unwritable_type_is_refused_before_any_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    // (A List is written when its rows are all one length; a ListView never is.)
    let list = DataType::ListView(Arc::new(Field::new("item", DataType::Int32, true)));
    let schema = Arc::new(Schema::new(vec![Field::new("ok", DataType::Int8, false), Field::new("tags", list, true)]));
    let error = ArrayFileWriter::try_new(dir.path().join("x.npz"), schema, WriteOptions::default()).err().unwrap();
    assert_eq!(error.location.column.as_deref(), Some("tags"));
    assert!(error.to_string().contains("x.npz"), "{error}");
    assert!(files_in(dir.path()).is_empty());

    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int8, false)]));
    let error = ArrayFileWriter::try_new(dir.path().join("x.csv"), schema, WriteOptions::default()).err().unwrap();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)), "{error}");
}

#[test]
fn a_timestamp_with_a_time_zone_is_written_as_its_utc_instant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tz.npy");
    let values = TimestampSecondArray::from(vec![Some(1_700_000_000), None]).with_timezone("+05:30");
    let schema = Arc::new(Schema::new(vec![Field::new("t", values.data_type().clone(), true)]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)]).unwrap();
    write_all(&out, schema, &[batch], WriteOptions::default()).unwrap();
    let bytes = read(&out);
    assert!(String::from_utf8_lossy(&bytes).contains("'descr': '<M8[s]'"));
    assert_eq!(&bytes[128..136], &1_700_000_000i64.to_le_bytes());
    assert_eq!(&bytes[136..], &i64::MIN.to_le_bytes());
}

#[test]
fn a_dictionary_column_is_written_as_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dict.npy");
    let values: DictionaryArray<Int32Type> = vec!["x", "yy", "x"].into_iter().collect();
    let schema = Arc::new(Schema::new(vec![Field::new("d", values.data_type().clone(), false)]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)]).unwrap();
    write_all(&out, schema, &[batch], WriteOptions::default()).unwrap();
    let bytes = read(&out);
    assert!(String::from_utf8_lossy(&bytes).contains("'descr': '<U2'"));
    let chars: Vec<u32> = bytes[128..].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(chars, [120, 0, 121, 121, 120, 0]);
}

#[test]
fn a_single_struct_column_becomes_a_structured_array_of_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.npy");
    let fields = Fields::from(vec![Field::new("x", DataType::Int8, false), Field::new("y", DataType::UInt8, false)]);
    let p = StructArray::new(
        fields.clone(),
        vec![Arc::new(Int8Array::from(vec![-1, 2])), Arc::new(UInt8Array::from(vec![3, 4]))],
        None,
    );
    let schema = Arc::new(Schema::new(vec![Field::new("p", DataType::Struct(fields), false)]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(p)]).unwrap();
    write_all(&out, schema, &[batch], WriteOptions::default()).unwrap();
    let bytes = read(&out);
    let text = String::from_utf8_lossy(&bytes[..bytes.len() - 4]).into_owned();
    assert!(text.contains("'descr': [('x', '|i1'), ('y', '|u1')], 'fortran_order': False, 'shape': (2,)"), "{text}");
    assert_eq!(&bytes[bytes.len() - 4..], &[0xff, 3, 2, 4]);
}

#[test]
fn large_and_view_strings_and_binaries_and_half_floats_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("views.npy");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("u1", Arc::new(LargeStringArray::from(vec!["a", "bcd"]))),
        ("u2", Arc::new(StringViewArray::from(vec!["a string longer than 12", ""]))),
        ("b1", Arc::new(LargeBinaryArray::from(vec![&b"\0\x01"[..], b""]))),
        ("b2", Arc::new(BinaryViewArray::from(vec![&[b'x'; 20][..], b"y"]))),
        ("h", Arc::new(Float16Array::from(vec![half::f16::from_f32(0.5), half::f16::from_f32(-2.0)]))),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    // Split to make the widths come from different batches.
    write_all(&out, batch.schema(), &[batch.slice(0, 1), batch.slice(1, 1)], WriteOptions::default()).unwrap();
    keep_for_numpy(&out, "built_views.npy");
    assert_same_bytes(&read(&out), &read(fixture("built_views.npy")), "built_views.npy");
}

#[test]
fn a_null_string_fails_at_write_not_at_finish_in_npy_and_npz() {
    for name in ["s.npy", "s.npz"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let schema =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let good = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(StringArray::from(vec!["a"]))],
        )
        .unwrap();
        let bad = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![2])), Arc::new(StringArray::from(vec![None::<&str>]))],
        )
        .unwrap();
        let mut writer = ArrayFileWriter::try_new(&out, schema, WriteOptions::default()).unwrap();
        writer.write(&good).unwrap();
        let error = writer.write(&bad).unwrap_err();
        assert_eq!(error.location.column.as_deref(), Some("s"), "{name}: {error}");
        assert!(error.to_string().contains("row 1"), "{name}: {error}");
        assert!(writer.finish().is_err(), "{name}: finish after a failed write");
        assert!(files_in(dir.path()).is_empty(), "{name}: left behind: {:?}", files_in(dir.path()));
    }
}

#[test]
fn an_npz_of_more_columns_than_open_files_allowed_is_fine() {
    // Members are written from two temporary files, not one per column.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wide.npz");
    let columns: Vec<(String, ArrayRef)> =
        (0..1500).map(|k| (format!("c{k}"), Arc::new(Int32Array::from(vec![k, -k])) as ArrayRef)).collect();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let open_files = || std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let before = open_files();
    let mut writer = ArrayFileWriter::try_new(&out, batch.schema(), WriteOptions::default()).unwrap();
    writer.write(&batch.slice(0, 1)).unwrap();
    writer.write(&batch.slice(1, 1)).unwrap();
    // A margin for files other tests (threads of this process) hold meanwhile.
    assert!(open_files() < before + 100, "{} files open while writing", open_files() - before);
    writer.finish().unwrap();
    let members = npz_members(&out);
    assert_eq!(members.len(), 1500);
    let (name, _, bytes) = &members[1499];
    assert_eq!(name, "c1499.npy");
    assert!(String::from_utf8_lossy(bytes).contains("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"));
    assert_eq!(&bytes[bytes.len() - 8..], [1499i32.to_le_bytes(), (-1499i32).to_le_bytes()].concat());
    assert_eq!(files_in(dir.path()), ["wide.npz"]);
}

/// Outputs get the permissions any new file gets (not the 0600 of a private temporary file).
#[cfg(unix)]
#[test]
fn outputs_get_ordinary_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (schema, batches) = stream_batches(false);
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let expected = std::fs::metadata(&reference).unwrap().permissions().mode() & 0o777;
    for name in ["out.npy", "out.npz"] {
        let path = dir.path().join(name);
        write_all(&path, schema.clone(), &batches, WriteOptions::default()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, expected, "{name}");
    }
}
