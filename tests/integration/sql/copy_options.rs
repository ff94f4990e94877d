//! `COPY ... STORED AS NPY OPTIONS (...)` options reach the sink: a deflated member is deflated.

use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::SessionContextNpyExt;

#[tokio::test]
async fn compression_option_deflates_members() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = SessionContext::new();
    ctx.register_npy_dir("sql-examples/data").unwrap();
    for (name, option, method) in [("stored.npz", "stored", zip::CompressionMethod::Stored), ("deflated.npz", "deflated", zip::CompressionMethod::Deflated)] {
        let path = dir.path().join(name);
        let sql = format!(
            "COPY (SELECT labels FROM ds) TO '{}' STORED AS NPY OPTIONS ('compression' '{option}')",
            path.display()
        );
        ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(archive.by_index(0).unwrap().compression(), method, "{option}");
    }
}
