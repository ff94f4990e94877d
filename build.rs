//! Links `npyq` as a position-dependent executable on Linux (glibc).
//!
//! Why: a position-independent `npyq` carries about 256,000 relative relocations (4 MB of
//! vtables and other pointers in `.data.rel.ro`) that the dynamic loader applies at every
//! start, faulting those pages in copy-on-write. Measured on this project's 2-core machines:
//! `npyq --version` 3.8 → 1.5 ms and `npyq sql 'SELECT 1'` 7.5 → 4.5 ms. For a tool people run
//! once per question that start-up is most of a small query. Only the executable's own
//! addresses stop being randomised (its heap, stack, libraries and maps still are); set
//! `NPYQ_PIE=1` when building to keep a position-independent executable.
//!
//! The library and the Python extension module are unaffected: this applies to binaries only.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NPYQ_PIE");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // A static build (`-C target-feature=+crt-static`) links its own way (static-pie): left alone.
    let static_crt = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default().split(',').any(|f| f == "crt-static");
    if target_os == "linux" && target_env == "gnu" && !static_crt && std::env::var_os("NPYQ_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
