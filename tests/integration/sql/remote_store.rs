//! Objects of a store other than the local filesystem are fetched (into a temporary file that
//! is then mapped): an in-memory store stands in for S3 and friends.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::object_store::memory::InMemory;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::SessionContextNpyExt;

#[tokio::test]
async fn tables_on_an_in_memory_store() {
    let store = Arc::new(InMemory::new());
    for (from, to) in [
        ("sql-examples/data/ds.npz", "data/ds.npz"),
        ("sql-examples/data/readings/part-1.npy", "data/readings/part-1.npy"),
        ("sql-examples/data/readings/part-2.npy", "data/readings/part-2.npy"),
    ] {
        let bytes = std::fs::read(from).unwrap();
        store.put(&Path::from(to), PutPayload::from(bytes)).await.unwrap();
    }
    let ctx = SessionContext::new();
    let url = datafusion::execution::object_store::ObjectStoreUrl::parse("memory://").unwrap();
    ctx.register_object_store(url.as_ref(), store as Arc<dyn ObjectStore>);
    ctx.register_npy_format().unwrap();
    ctx.sql("CREATE EXTERNAL TABLE ds STORED AS NPY LOCATION 'memory:///data/ds.npz'").await.unwrap();
    ctx.sql("CREATE EXTERNAL TABLE r STORED AS NPY LOCATION 'memory:///data/readings/'").await.unwrap();
    let batches = ctx
        .sql("SELECT (SELECT sum(labels) FROM ds) AS s, (SELECT max(_row) FROM r) AS last, (SELECT sensor FROM r WHERE _row = 100) AS first_of_part_2")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let value = |i: usize| batches[0].column(i).as_any().downcast_ref::<Int64Array>().map(|a| a.value(0));
    // numpy: labels.sum() == 2044 (expected.json's histogram: 196 + 2*205 + 3*210 + 4*202).
    assert_eq!(value(0), Some(2044));
    assert_eq!(value(1), Some(199));
    let sensor = batches[0].column(2).as_any().downcast_ref::<datafusion::arrow::array::Int32Array>().map(|a| a.value(0));
    assert_eq!(sensor, Some(1));
}
