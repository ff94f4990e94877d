//! How the `npyq` executable is linked (see build.rs).

/// On Linux with glibc, `npyq` is a position-dependent executable (ELF type `ET_EXEC`), so the
/// dynamic loader has no relocations of its own to apply at each start, unless the build asked
/// for a position-independent one with `NPYQ_PIE`.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu", not(target_feature = "crt-static")))]
fn npyq_is_linked_position_dependent() {
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    use std::io::Read;
    let mut header = [0u8; 64];
    std::fs::File::open(env!("CARGO_BIN_EXE_npyq")).and_then(|mut f| f.read_exact(&mut header)).expect("read npyq's ELF header");
    assert_eq!(&header[..4], b"\x7fELF", "npyq is an ELF file");
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    let expected = if option_env!("NPYQ_PIE").is_some() { ET_DYN } else { ET_EXEC };
    assert_eq!(e_type, expected, "ELF type of npyq (2: position-dependent, 3: position-independent)");
}
