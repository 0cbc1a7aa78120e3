//! The compatibility decisions (`store::mongo::compat`): the server is detected at start, and
//! each workaround's behaviour is shown on the FerretDB the tests run on.

use std::time::Duration;

use job_importer::store::Store;
use job_importer::store::mongo::compat::{Compat, Server};
use mongodb::IndexModel;
use mongodb::bson::{Document, doc};

use crate::helpers::mongo_uri;

async fn store() -> Store {
    let name = format!("compat_{}", uuid::Uuid::new_v4().simple());
    Store::connect(&mongo_uri(), &name, Duration::from_secs(10))
        .await
        .unwrap()
}

async fn server_of(store: &Store) -> Server {
    let info = store
        .database()
        .run_command(doc! {"buildInfo": 1})
        .await
        .unwrap();
    Server::from_build_info(&info)
}

fn is_ferretdb(s: &Server) -> bool {
    matches!(s, Server::FerretDb { .. })
}

#[tokio::test]
async fn the_server_is_detected_at_start_and_only_mongodb_takes_the_native_paths() {
    let store = store().await;
    assert!(store.compat().server().is_none());
    store.ensure_indexes().await.unwrap();
    let detected = store.compat().server().cloned().unwrap();
    assert_eq!(detected, server_of(&store).await);
    let native = !is_ferretdb(&detected);
    assert_eq!(store.compat().one_index_per_command(), !native);
    // Started twice (every restart): the indexes exist already, and start still succeeds.
    store.ensure_indexes().await.unwrap();
    store.database().drop().await.ok();
}

#[tokio::test]
async fn ferretdb_fails_a_create_of_several_indexes_that_exist_and_one_per_command_does_not() {
    let store = store().await;
    let server = server_of(&store).await;
    let coll = store.database().collection::<Document>("probe");
    coll.insert_one(doc! {"a": 1, "b": 2}).await.unwrap();
    let both = || {
        vec![
            IndexModel::builder().keys(doc! {"a": 1}).build(),
            IndexModel::builder().keys(doc! {"b": 1}).build(),
        ]
    };
    coll.create_indexes(both()).await.unwrap();
    let again = coll.create_indexes(both()).await;
    if is_ferretdb(&server) {
        assert!(
            again.is_err(),
            "FerretDB now accepts it: the workaround can go"
        );
    } else {
        again.unwrap();
    }
    // The path the store takes here succeeds every time.
    let portable = store.clone().with_server(server);
    portable.create_indexes("probe", both()).await.unwrap();
    portable.create_indexes("probe", both()).await.unwrap();
    let names = coll.list_index_names().await.unwrap();
    assert!(names.iter().any(|n| n == "a_1") && names.iter().any(|n| n == "b_1"));
    store.database().drop().await.ok();
}

/// What `ordered_insert_limit` avoids: an ordered insert of 150 documents that fails at the
/// 31st. MongoDB stores the 30 before it and stops; FerretDB 1.x also stores the 50 of its
/// second chunk of 100. An insert of no more than the limit stops where it failed on both.
#[tokio::test]
async fn ferretdb_goes_on_past_a_failed_ordered_insert_after_100_documents_and_100_stop() {
    let store = store().await;
    let server = server_of(&store).await;
    let coll = store.database().collection::<Document>("probe");
    let stored = || async {
        let mut ids: Vec<i64> = coll
            .distinct("_id", doc! {})
            .await
            .unwrap()
            .iter()
            .filter_map(|b| b.as_i64())
            .collect();
        ids.sort_unstable();
        ids
    };
    let docs = |n: i64| (1..=n).map(|i| doc! {"_id": i}).collect::<Vec<_>>();
    coll.insert_one(doc! {"_id": 31_i64}).await.unwrap();
    let err = coll.insert_many(docs(150)).ordered(true).await;
    assert!(err.is_err(), "the 31st collides");
    let past: Vec<i64> = stored().await.into_iter().filter(|&i| i > 31).collect();
    if is_ferretdb(&server) {
        assert_eq!(
            past,
            (101..=150).collect::<Vec<_>>(),
            "FerretDB now stops at the failure: the workaround can go"
        );
    } else {
        assert!(past.is_empty(), "{past:?}");
    }
    // The limit the store keeps to on this server stops at the failure.
    let limit = Compat::for_server(server)
        .ordered_insert_limit()
        .unwrap_or(150) as i64;
    coll.delete_many(doc! {}).await.unwrap();
    coll.insert_one(doc! {"_id": 31_i64}).await.unwrap();
    let err = coll.insert_many(docs(limit.min(150))).ordered(true).await;
    assert!(err.is_err());
    assert_eq!(stored().await, (1..=31).collect::<Vec<_>>());
    store.database().drop().await.ok();
}

/// What `id_lookups_scan` avoids: FerretDB's plan for a read by `_id` is a scan of the whole
/// collection (its `explain` says the filter is not pushed down to SQLite), so the cost of a
/// lookup grows with the collection. MongoDB answers it from the `_id` index.
#[tokio::test]
async fn ferretdb_reads_the_whole_collection_for_a_lookup_by_id() {
    let store = store().await;
    let server = server_of(&store).await;
    let coll = store.database().collection::<Document>("probe");
    let docs: Vec<Document> = (0..100_i64).map(|i| doc! {"_id": i}).collect();
    coll.insert_many(docs).await.unwrap();
    assert_eq!(
        Compat::for_server(server.clone()).id_lookups_scan(),
        is_ferretdb(&server)
    );
    for filter in [doc! {"_id": 7_i64}, doc! {"_id": {"$in": [1_i64, 2_i64]}}] {
        let plan = store
            .database()
            .run_command(doc! {"explain": {"find": "probe", "filter": filter.clone()}})
            .await
            .unwrap();
        let text = plan.to_string();
        if is_ferretdb(&server) {
            assert_eq!(
                plan.get_bool("filterPushdown").ok(),
                Some(false),
                "FerretDB now pushes {filter} down: the workaround can go ({text})"
            );
            assert!(text.contains("SCAN") && !text.contains("INDEX"), "{text}");
        } else {
            assert!(!text.contains("COLLSCAN"), "{text}");
        }
    }
    // What the job index's check reads instead there: the first documents, unfiltered, whose
    // limit FerretDB hands to SQLite (so the rest is not read).
    if is_ferretdb(&server) {
        let plan = store
            .database()
            .run_command(doc! {"explain": {"find": "probe", "filter": {}, "limit": 16}})
            .await
            .unwrap();
        assert_eq!(plan.get_bool("limitPushdown").ok(), Some(true), "{plan}");
    }
    store.database().drop().await.ok();
}
