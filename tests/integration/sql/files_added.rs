//! Files added to a registered directory after registration are seen by the next query, and a
//! shard added to a table's directory joins that table (ListingTable's listing cache is dropped
//! for directory tables).

use datafusion::arrow::array::Int64Array;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::SessionContextNpyExt;

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

#[tokio::test]
async fn new_files_and_shards_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    let source = std::path::Path::new("sql-examples/data/readings");
    std::fs::copy(source.join("part-1.npy"), shards.join("part-1.npy")).unwrap();

    let ctx = SessionContext::new();
    ctx.register_npy_dir(dir.path()).unwrap();
    assert_eq!(count(&ctx, "SELECT count(*) FROM shards").await, 100);
    assert!(ctx.sql("SELECT * FROM emb").await.is_err(), "no table emb yet");

    std::fs::copy(source.join("part-2.npy"), shards.join("part-2.npy")).unwrap();
    std::fs::copy("sql-examples/data/embeddings.npy", dir.path().join("emb.npy")).unwrap();
    assert_eq!(count(&ctx, "SELECT count(*) FROM shards").await, 200);
    assert_eq!(count(&ctx, "SELECT max(_row) FROM shards").await, 199);
    assert_eq!(count(&ctx, "SELECT count(*) FROM emb").await, 500);
}
