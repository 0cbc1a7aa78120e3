//! The `maintenance` collection: one document (`_id: "pause"`) saying whether the deployment
//! is paused (`domain::maintenance::Maintenance`). MongoDB is its record; the Redis channel
//! `{prefix}:maintenance` only tells daemons to read it again.

use mongodb::bson::doc;

use super::{MAINTENANCE, Store};
use crate::domain::audit::Actor;
use crate::domain::maintenance::Maintenance;
use crate::store::{StoreError, decode, encode};

const ID: &str = "pause";

impl Store {
    /// The deployment's pause state; never paused when the document is absent.
    pub async fn maintenance(&self) -> Result<Maintenance, StoreError> {
        match self.coll(MAINTENANCE).find_one(doc! {"_id": ID}).await? {
            Some(mut d) => {
                d.remove("_id");
                decode(d)
            }
            None => Ok(Maintenance::default()),
        }
    }

    async fn put_maintenance(&self, m: &Maintenance) -> Result<(), StoreError> {
        let mut d = encode(m)?;
        d.insert("_id", ID);
        self.coll(MAINTENANCE)
            .replace_one(doc! {"_id": ID}, d)
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Pauses the deployment; `None` when it already was (the state is left as it is).
    pub async fn pause(
        &self,
        by: Actor,
        reason: Option<String>,
    ) -> Result<Option<Maintenance>, StoreError> {
        if self.maintenance().await?.paused {
            return Ok(None);
        }
        let m = Maintenance::paused(by, chrono::Utc::now(), reason);
        self.put_maintenance(&m).await?;
        Ok(Some(m))
    }

    /// Resumes the deployment; `None` when it was not paused.
    pub async fn resume(&self, by: Actor) -> Result<Option<Maintenance>, StoreError> {
        let current = self.maintenance().await?;
        if !current.paused {
            return Ok(None);
        }
        let m = current.resumed(by, chrono::Utc::now());
        self.put_maintenance(&m).await?;
        Ok(Some(m))
    }
}
