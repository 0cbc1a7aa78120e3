//! Panic boundaries for the long-lived actors. actix does not catch a panic in a handler or in
//! a future an actor spawned: it unwinds through the task that runs the actor and its
//! `Supervisor`, and the actor is gone for good. So every handler and future of a supervised
//! actor runs inside `guard` / `guard_future`: a panic is logged with its message, counted, and
//! the actor's context is stopped, which makes its `Supervisor` restart it (`restarting`, then
//! `started` again, on the same actor value).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix::prelude::*;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use crate::telemetry;

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn restart<A>(actor: &'static str, panic: &(dyn Any + Send), ctx: &mut Context<A>)
where
    A: Actor<Context = Context<A>>,
{
    let message = panic_message(panic);
    tracing::error!(actor, panic = %message, "actor panicked; restarting it");
    metrics::counter!(telemetry::ACTOR_RESTARTS, "actor" => actor).increment(1);
    ctx.stop();
}

/// Runs `f` (a handler's body); a panic in it stops the actor for its supervisor to restart.
pub fn guard<A, R>(
    actor: &'static str,
    ctx: &mut Context<A>,
    f: impl FnOnce(&mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
        Ok(r) => Some(r),
        Err(panic) => {
            restart(actor, &*panic, ctx);
            None
        }
    }
}

/// Spawns `fut` in the actor's context (it ends with the actor); its output goes to `then`. A
/// panic while it is polled stops the actor for its supervisor to restart.
pub fn guard_future<A, F>(
    actor: &'static str,
    act: &A,
    ctx: &mut Context<A>,
    fut: F,
    then: impl FnOnce(F::Output, &mut A, &mut Context<A>) + 'static,
) -> SpawnHandle
where
    A: Actor<Context = Context<A>>,
    F: Future + 'static,
{
    let caught = AssertUnwindSafe(fut).catch_unwind();
    ctx.spawn(caught.into_actor(act).map(move |res, act, ctx| match res {
        Ok(out) => {
            guard(actor, ctx, |ctx| then(out, act, ctx));
        }
        Err(panic) => restart(actor, &*panic, ctx),
    }))
}

/// A long-lived loop (the sweeper's) as a supervised actor: the loop is a future of the actor's
/// context, so it ends with the actor, and a panic in it makes the supervisor start a new one.
pub struct LoopActor {
    name: &'static str,
    make: Box<dyn Fn() -> LocalBoxFuture<'static, ()>>,
    restarts: u64,
}

impl LoopActor {
    /// `make` builds the loop, once per start.
    pub fn new(
        name: &'static str,
        make: impl Fn() -> LocalBoxFuture<'static, ()> + 'static,
    ) -> Self {
        Self {
            name,
            make: Box::new(make),
            restarts: 0,
        }
    }
}

impl Actor for LoopActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let run = (self.make)();
        guard_future(self.name, self, ctx, run, |(), act, _| {
            tracing::debug!(actor = act.name, "loop ended");
        });
    }
}

impl Supervised for LoopActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.restarts += 1;
        tracing::warn!(actor = self.name, restarts = self.restarts, "restarting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        let p: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*p), "static");
        let p: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(&*p), "owned");
        let p: Box<dyn Any + Send> = Box::new(3u8);
        assert_eq!(panic_message(&*p), "unknown panic");
    }

    #[test]
    fn a_loop_that_panics_is_started_again_by_its_supervisor() {
        use std::cell::Cell;
        use std::rc::Rc;
        actix::System::new().block_on(async {
            let runs = Rc::new(Cell::new(0));
            let counted = Rc::clone(&runs);
            let addr = Supervisor::start(move |_| {
                LoopActor::new("test loop", move || {
                    let runs = Rc::clone(&counted);
                    Box::pin(async move {
                        runs.set(runs.get() + 1);
                        if runs.get() == 1 {
                            panic!("the first run fails");
                        }
                        std::future::pending::<()>().await
                    })
                })
            });
            for _ in 0..100 {
                if runs.get() >= 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(runs.get(), 2, "the loop runs again after its panic");
            assert!(addr.connected());
        });
    }
}
