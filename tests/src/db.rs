//! The three databases ORM tests run on: SQLite (a temporary file), PostgreSQL and MariaDB
//! (a fresh database per test on the servers this machine runs).
//!
//! Server URLs come from `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`): the server and the
//! credentials; the database in the URL is only where `CREATE DATABASE` runs. A server that
//! cannot be reached fails the test (it is never skipped).

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, Schema};

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// SQLite, a temporary file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MariaDB (sea-orm's MySQL backend).
    MariaDb,
}

impl Db {
    /// All three, in the order tests run them.
    pub const ALL: [Db; 3] = [Db::Sqlite, Db::Postgres, Db::MariaDb];
}

/// A fresh, empty database for one test. Call [`TestDb::drop_database`] at the end; a database
/// left behind by a failed test is dropped by the next run's [`TestDb::create`] (names carry
/// the creating process id).
#[derive(Debug)]
pub struct TestDb {
    /// Which database.
    pub db: Db,
    /// A connection (pool) to it.
    pub conn: DatabaseConnection,
    /// Its name on the server (PostgreSQL, MariaDB).
    name: String,
    /// The URL `conn` was opened with.
    url: String,
    admin: Option<DatabaseConnection>,
    _dir: Option<tempfile::TempDir>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn mysql_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// `url` with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDb {
    /// Creates a fresh database of kind `db`.
    ///
    /// # Panics
    /// When the server cannot be reached or the database cannot be created: the test fails.
    pub async fn create(db: Db) -> TestDb {
        let name = format!(
            "deimos_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                let conn = Database::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("SQLite at {url}: {e}"));
                TestDb {
                    db,
                    conn,
                    name,
                    url,
                    admin: None,
                    _dir: Some(dir),
                }
            }
            Db::Postgres | Db::MariaDb => {
                let url = if db == Db::Postgres {
                    postgres_url()
                } else {
                    mysql_url()
                };
                let admin = Database::connect(&url).await.unwrap_or_else(|e| {
                    panic!(
                        "{db:?} at {url} (set TEST_POSTGRES_URL / TEST_MYSQL_URL): {e}; the \
                         ORM tests need this server"
                    )
                });
                drop_stale(&admin, db).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("{db:?}: CREATE DATABASE {name}: {e}"));
                let url = with_database(&url, &name);
                let conn = Database::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("{db:?}: connecting to {name}: {e}"));
                TestDb {
                    db,
                    conn,
                    name,
                    url,
                    admin: Some(admin),
                    _dir: None,
                }
            }
        }
    }

    /// Creates `entity`'s table (SeaORM's `Schema::create_table_from_entity`).
    ///
    /// # Panics
    /// When the statement fails.
    pub async fn create_table<E: EntityTrait>(&self, entity: E) {
        let schema = Schema::new(self.conn.get_database_backend());
        self.conn
            .execute(&schema.create_table_from_entity(entity))
            .await
            .unwrap_or_else(|e| panic!("{:?}: creating the table: {e}", self.db));
    }

    /// The database's URL, for another process to connect to: `sqlite://<file>?mode=rwc`, or
    /// the server's URL with this test's database in its path.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend (`DbBackend::Sqlite`, `Postgres`, `MySql`).
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Closes the connection and drops the database (PostgreSQL, MariaDB); SQLite's file goes
    /// with its temporary directory.
    pub async fn drop_database(self) {
        let TestDb {
            db,
            conn,
            name,
            admin,
            _dir,
            ..
        } = self;
        let _ = conn.close().await;
        if let Some(admin) = admin {
            let force = if db == Db::Postgres {
                " WITH (FORCE)"
            } else {
                ""
            };
            if let Err(e) = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                .await
            {
                eprintln!("{db:?}: could not drop {name}: {e}");
            }
            let _ = admin.close().await;
        }
    }
}

/// Drops test databases of processes that are gone (a test that failed before dropping its own).
async fn drop_stale(admin: &DatabaseConnection, db: Db) {
    let list = if db == Db::Postgres {
        "SELECT datname AS name FROM pg_database WHERE datname LIKE 'deimos\\_t\\_%'"
    } else {
        "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'deimos\\_t\\_%'"
    };
    let Ok(rows) = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            list,
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "name") else {
            continue;
        };
        let pid = name
            .strip_prefix("deimos_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let force = if db == Db::Postgres {
                " WITH (FORCE)"
            } else {
                ""
            };
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_in_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "x"),
            "mysql://root@127.0.0.1:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("mysql://root@h:1", "x"), "mysql://root@h:1/x");
    }
}
