//! The `.npy` preamble and header: magic, version, length field, the Python-literal dict.
#![no_main]

use arrow_npy::header::{parse_header, read_preamble, DEFAULT_MAX_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let preamble = read_preamble(data, DEFAULT_MAX_HEADER_LEN);
    match parse_header(data, DEFAULT_MAX_HEADER_LEN) {
        Ok(header) => {
            // What a parsed header promises: the preamble agrees, and its sizes are computed
            // (or refused) without overflow.
            let (version, data_offset) = preamble.expect("a parsed header has a valid preamble");
            assert_eq!(version, header.version);
            assert_eq!(data_offset, header.data_offset);
            assert!(header.data_offset as usize <= data.len());
            let _ = header.num_rows();
            let _ = header.inner_shape();
            let _ = header.row_len();
            let _ = header.data_len();
            let _ = arrow_npy::schema::arrow_type(&header.dtype);
        }
        Err(e) => {
            // Errors are one line (they are shown to users as such).
            let message = e.to_string();
            assert!(!message.contains('\n'), "multi-line error: {message}");
        }
    }
});
