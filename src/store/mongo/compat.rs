//! Every decision that depends on which MongoDB-compatible server the store talks to, in one
//! place. The server is detected once at start from `buildInfo` (FerretDB answers with a
//! `ferretdb` section); until then, and on any server this module does not know, the store
//! takes the portable path, which is correct everywhere and only slower. On MongoDB 6+ and
//! Atlas it takes the native path.
//!
//! Workarounds, each named by the behaviour it avoids (and each shown by a test in
//! `tests/api/compat.rs` against the FerretDB the tests run on):
//! - `one_index_per_command`: FerretDB 1.x fails a `createIndexes` of several indexes when
//!   they all exist already (every restart would), so indexes are created one per command.
//! - `ordered_insert_limit`: FerretDB 1.x runs an ordered `insert` in chunks of 100
//!   documents and, after a failed document, goes on with the next chunk, so documents past
//!   the failure are stored although the reply says the insert stopped; an ordered insert
//!   that relies on stopping (the changes feed's appends) sends at most 100 per command.
//!
//! - `id_lookups_scan`: FerretDB 1.x (SQLite) answers a query on `_id` by reading the whole
//!   collection (an `$in` of 16 ids about 2.7 s at 100,000 jobs, one equality about 0.12 s;
//!   1 s with WP Job Manager's larger jobs), so the job index's check at the start of a read
//!   compares the first jobs stored, read without a filter (a limit FerretDB hands to SQLite),
//!   instead of looking sampled jobs up by id; the `jobs` collection's UUID, checked on every
//!   server, still catches a dropped, replaced or restored collection.
//!
//! - `queries_scan`: FerretDB 1.x on SQLite uses no index for a query. Its `_id` index is
//!   built on the expression `_ferretdb_sjson->"_id"` while its queries filter on
//!   `_ferretdb_sjson->'$._id'`, and no other filter or sort is handed to SQLite at all, so a
//!   sorted page of a large collection reads the whole collection. A capped collection keeps
//!   its insertion order (`$natural`) and a bounded size, so the first pages of the unfiltered
//!   history are read from a small capped feed of the runs' changes of status (`run_feed`),
//!   which is written only on such a server.
//!
//! Not decided here: the run-document lock that serializes writers of one run (see
//! `actors::pipeline::with_run_lock`) is part of the exactness protocol on every server, and
//! so is the layout of the run counters (`run_counts`, `run_days`): documents per source that
//! one writer at a time changes, because FerretDB 1.x can lose one of two concurrent updates
//! of one document.

use std::sync::{Arc, OnceLock};

use mongodb::Database;
use mongodb::bson::{Document, doc};

use crate::store::StoreError;

/// Documents FerretDB 1.x inserts per chunk of an `insert` command.
const FERRETDB_INSERT_CHUNK: usize = 100;

/// The server behind the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    MongoDb { version: String },
    FerretDb { version: String },
}

impl Server {
    /// What `buildInfo` says.
    pub fn from_build_info(info: &Document) -> Self {
        let version = info.get_str("version").unwrap_or("unknown").to_owned();
        // FerretDB 1.x: `ferretdbVersion` and `ferretdbFeatures` beside a MongoDB version.
        match info.get_str("ferretdbVersion") {
            Ok(v) => Self::FerretDb {
                version: v.to_owned(),
            },
            Err(_) if info.contains_key("ferretdbFeatures") => Self::FerretDb { version },
            Err(_) => Self::MongoDb { version },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::MongoDb { version } => format!("MongoDB {version}"),
            Self::FerretDb { version } => format!("FerretDB {version}"),
        }
    }
}

/// The store's compatibility decisions; cheap to clone (the detection is shared).
#[derive(Debug, Clone, Default)]
pub struct Compat {
    server: Arc<OnceLock<Server>>,
}

impl Compat {
    /// Decisions for a known server (tests force a path with it).
    pub fn for_server(server: Server) -> Self {
        let c = Self::default();
        c.server.set(server).ok();
        c
    }

    /// Asks the server once; later calls return what the first one learnt.
    pub async fn detect(&self, db: &Database) -> Result<Server, StoreError> {
        if let Some(s) = self.server.get() {
            return Ok(s.clone());
        }
        let info = db.run_command(doc! {"buildInfo": 1}).await?;
        let server = Server::from_build_info(&info);
        let _ = self.server.set(server.clone());
        Ok(self.server.get().cloned().unwrap_or(server))
    }

    pub fn server(&self) -> Option<&Server> {
        self.server.get()
    }

    /// Only MongoDB itself is trusted with the native paths; anything else (FerretDB, a
    /// server not detected yet) takes the portable ones.
    fn native(&self) -> bool {
        matches!(self.server.get(), Some(Server::MongoDb { .. }))
    }

    /// Create indexes one per `createIndexes` command (see the module's documentation).
    pub fn one_index_per_command(&self) -> bool {
        !self.native()
    }

    /// Looking documents up by `_id` reads the whole collection (see the module's
    /// documentation): compare the first documents stored instead.
    pub fn id_lookups_scan(&self) -> bool {
        !self.native()
    }

    /// A filtered or sorted query reads the whole collection (see the module's documentation):
    /// keep the run feed and read the newest runs from it.
    pub fn queries_scan(&self) -> bool {
        !self.native()
    }

    /// The most documents one ordered `insert_many` may carry and still stop at its first
    /// failure (see the module's documentation); `None` when the server honours any size.
    pub fn ordered_insert_limit(&self) -> Option<usize> {
        (!self.native()).then_some(FERRETDB_INSERT_CHUNK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_names_the_server() {
        let ferret = doc! {"version": "7.0.42", "ferretdbVersion": "v1.24.2",
        "ferretdbFeatures": {"aggregationStages": ["$group"]}};
        assert_eq!(
            Server::from_build_info(&ferret),
            Server::FerretDb {
                version: "v1.24.2".into()
            }
        );
        let mongo = doc! {"version": "7.0.14", "modules": []};
        assert_eq!(
            Server::from_build_info(&mongo),
            Server::MongoDb {
                version: "7.0.14".into()
            }
        );
    }

    #[test]
    fn only_mongodb_takes_the_native_paths() {
        assert!(Compat::default().one_index_per_command());
        let f = Compat::for_server(Server::FerretDb {
            version: "v1".into(),
        });
        assert!(f.one_index_per_command());
        assert_eq!(f.ordered_insert_limit(), Some(100));
        assert!(f.id_lookups_scan());
        assert!(f.queries_scan());
        let m = Compat::for_server(Server::MongoDb {
            version: "7".into(),
        });
        assert!(!m.one_index_per_command());
        assert_eq!(m.ordered_insert_limit(), None);
        assert!(!m.id_lookups_scan());
        assert!(!m.queries_scan());
    }
}
