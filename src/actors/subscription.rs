//! A Redis pub/sub channel as a stream an actor owns (`ctx.add_stream`): it lives and ends with
//! the actor, and subscribes again whenever Redis goes away, for as long as it is polled.

use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use redis::aio::PubSubStream;

use crate::store::redis::Redis;

/// The wait before subscribing again after a failure.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

enum State {
    Connect { wait: bool },
    Open(PubSubStream),
}

/// Every payload published on `channel`; `what` names the channel in logs.
pub fn messages(
    redis: Redis,
    channel: String,
    what: &'static str,
) -> impl Stream<Item = bytes::Bytes> {
    let start = (redis, channel, State::Connect { wait: false });
    stream::unfold(start, move |(redis, channel, mut state)| async move {
        loop {
            state = match state {
                State::Open(mut s) => match s.next().await {
                    Some(msg) => {
                        let payload = bytes::Bytes::copy_from_slice(msg.get_payload_bytes());
                        return Some((payload, (redis, channel, State::Open(s))));
                    }
                    None => {
                        tracing::warn!("{what} subscription ended; resubscribing");
                        State::Connect { wait: true }
                    }
                },
                State::Connect { wait } => {
                    if wait {
                        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                    }
                    match redis.client.get_async_pubsub().await {
                        Ok(mut ps) => match ps.subscribe(&channel).await {
                            Ok(()) => State::Open(ps.into_on_message()),
                            Err(e) => {
                                tracing::warn!(error = %e, "could not subscribe to {what}");
                                State::Connect { wait: true }
                            }
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "Redis unavailable for {what}; retrying");
                            State::Connect { wait: true }
                        }
                    }
                }
            }
        }
    })
}
