//! The broadcast ticker: every snapshot interval it asks the scheduler for each live swarm's
//! snapshots, one swarm per request so that a large swarm never holds up a small one, and
//! encodes and sends them. The master gets the device table; a worker gets a constant-size
//! view of its own state and the swarm totals.

use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use ostrich_protocol::{ToDevice, encode};

use crate::{
    scheduler::{LiveSwarms, Scheduler, TakeSnapshots},
    session::Outbound,
};

/// The ticker actor.
pub struct Ticker {
    scheduler: Addr<Scheduler>,
    interval: Duration,
}

impl Ticker {
    /// A ticker that snapshots every `interval`.
    pub fn new(scheduler: Addr<Scheduler>, interval: Duration) -> Self {
        Self { scheduler, interval }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let scheduler = self.scheduler.clone();
        ctx.spawn(
            async move {
                let Ok(swarms) = scheduler.send(LiveSwarms).await else {
                    return;
                };
                for swarm in swarms {
                    let scheduler = scheduler.clone();
                    actix::spawn(async move {
                        let Ok(snapshots) = scheduler.send(TakeSnapshots { swarm }).await else {
                            return;
                        };
                        for (recipient, snapshot) in snapshots {
                            match encode(&ToDevice::Snapshot(snapshot)) {
                                Ok(frame) => recipient.do_send(Outbound::Frame(Bytes::from(frame))),
                                Err(error) => log::error!("cannot encode a snapshot: {error}"),
                            }
                        }
                    });
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Ticker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, Self::tick);
    }
}
