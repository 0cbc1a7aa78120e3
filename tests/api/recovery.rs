//! Runs whose work disappears are resumed or failed with a reason; none stays running.

use job_importer::app::Roles;

use crate::helpers::*;

const HTTP_ONLY: Roles = Roles {
    scheduler: false,
    fetcher: false,
    worker: false,
    http: true,
};

#[tokio::test]
async fn a_run_whose_queued_fetch_was_lost_is_resumed_and_completes_exactly() {
    let mut s = test_settings();
    s.pipeline.stale_after_secs = 1;
    s.pipeline.sweep_interval_secs = 1;
    let front = TestApp::spawn_roles(s.clone(), HTTP_ONLY).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = front
        .create_source("Lost work", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    // Redis loses the queued fetch (a restart without persistence).
    delete_keys(&format!("{}:fetch*", s.redis.prefix)).await;

    let back = TestApp::spawn_with(s).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    assert_eq!(run.get_i64("resumes").unwrap(), 1);
    assert_eq!(run.get_i64("newJobs").unwrap(), 5);
    assert_eq!(run.get_i64("totalFetched").unwrap(), 5);
    assert_eq!(back.jobs().await.len(), 5);
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn a_run_whose_work_keeps_getting_lost_fails_with_queue_lost_after_its_resumes() {
    let mut s = test_settings();
    s.pipeline.stale_after_secs = 1;
    s.pipeline.sweep_interval_secs = 1;
    s.pipeline.max_resumes = 1;
    let s_prefix = s.redis.prefix.clone();
    // A scheduler (which sweeps) but no fetcher: the fetch is never done.
    let roles = Roles {
        scheduler: true,
        fetcher: false,
        worker: false,
        http: true,
    };
    let app = TestApp::spawn_roles(s, roles).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = app
        .create_source("Nobody fetches", &format!("{}/feed.xml", feed.uri()))
        .await;
    let r = app
        .http
        .patch(app.url(&format!("/api/sources/{source}")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let run_id = app.trigger(&source).await;
    // A fetch that waits in the queue is not lost (nobody fetches here): Redis keeps losing
    // it instead.
    let prefix = s_prefix.clone();
    let losing = tokio::spawn(async move {
        loop {
            delete_keys(&format!("{prefix}:fetch*")).await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
    let run = app.wait_final(&run_id).await;
    losing.abort();
    assert_eq!(run.get_str("status").unwrap(), "failed");
    assert_eq!(
        run.get_document("error").unwrap().get_str("code").unwrap(),
        "queue.lost"
    );
    assert_eq!(run.get_i64("resumes").unwrap(), 1);
    // The source is free again.
    let again = app
        .post_json(
            &format!("/api/sources/{source}/import"),
            &serde_json::Value::Null,
        )
        .await;
    assert_eq!(again.status(), 202);
    app.cleanup().await;
}

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_run_whose_fetch_is_held_by_a_worker_redis_forgot_is_resumed() {
    let mut s = test_settings();
    s.pipeline.stale_after_secs = 1;
    s.pipeline.sweep_interval_secs = 1;
    let front = TestApp::spawn_roles(s.clone(), HTTP_ONLY).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = front
        .create_source("Held by a ghost", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    // A worker took the fetch, then Redis lost the worker's registration (not its in-flight
    // set): nobody will hand the task back, though its state still says pending.
    let mut c = redis_conn().await;
    let queue = format!("{}:fetch", s.redis.prefix);
    // New tasks wait in the schedule (due now) until a worker's fetch lists them.
    let (id, _): (String, f64) =
        redis::AsyncCommands::zpopmin(&mut c, format!("{queue}:scheduled"), 1)
            .await
            .map(|v: Vec<(String, f64)>| v[0].clone())
            .unwrap();
    let _: i64 = redis::AsyncCommands::sadd(&mut c, format!("{queue}:inflight:gone-1"), &id)
        .await
        .unwrap();

    let back = TestApp::spawn_with(s).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    assert_eq!(run.get_i64("resumes").unwrap(), 1);
    assert_eq!(run.get_i64("newJobs").unwrap(), 5);
    assert_eq!(back.jobs().await.len(), 5);
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn a_queue_entry_whose_data_redis_lost_does_not_stop_the_workers() {
    let s = test_settings();
    let front = TestApp::spawn_roles(s.clone(), HTTP_ONLY).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = front
        .create_source("Beside a ghost", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    // An id whose payload Redis lost, due before the run's fetch: a worker's fetch takes both,
    // and a fetch holding an id without data fails as a whole.
    let mut c = redis_conn().await;
    let scheduled = format!("{}:fetch:scheduled", s.redis.prefix);
    let _: i64 = redis::AsyncCommands::zadd(&mut c, &scheduled, "ghost-1", 0)
        .await
        .unwrap();
    // And one whose payload is there but whose metadata is gone.
    let data = format!("{}:fetch:data", s.redis.prefix);
    let _: i64 = redis::AsyncCommands::hset(&mut c, &data, "ghost-2", "{}")
        .await
        .unwrap();
    let _: i64 = redis::AsyncCommands::zadd(&mut c, &scheduled, "ghost-2", 0)
        .await
        .unwrap();

    let back = TestApp::spawn_with(s.clone()).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    assert_eq!(run.get_i64("newJobs").unwrap(), 5);
    assert_eq!(back.jobs().await.len(), 5);
    let keys: Vec<String> =
        redis::AsyncCommands::keys(&mut c, format!("{}:fetch:*", s.redis.prefix))
            .await
            .unwrap();
    for key in keys
        .iter()
        .filter(|k| k.ends_with(":active") || k.contains(":inflight:"))
    {
        let members: Vec<String> = if key.ends_with(":active") {
            redis::AsyncCommands::lrange(&mut c, key, 0, -1)
                .await
                .unwrap()
        } else {
            redis::AsyncCommands::smembers(&mut c, key).await.unwrap()
        };
        assert!(
            !members.iter().any(|m| m.starts_with("ghost")),
            "{key}: {members:?}"
        );
    }
    back.cleanup().await;
    front.daemon.stop();
}
