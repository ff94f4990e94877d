//! `npyq schema PATH`.

use std::path::Path;

pub fn run(path: &Path) -> anyhow::Result<()> {
    let _ = path;
    todo!("H5")
}
