//! Reading the Django database: a separate read-only SQLite connection, and rows read by
//! column name with fallbacks, because the column names of the models the architecture
//! document does not spell out (logs, templates, triggers...) vary between Django versions of
//! the system. Every table is read whole with `SELECT *`, in primary-key order.

use super::error::ImportError;
use super::when;
use crate::domain::time::Timestamp;
use jiff::tz::TimeZone;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Column, ConnectOptions, Connection, Row as _, SqliteConnection, TypeInfo, ValueRef};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// One SQLite value of a Django row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// INTEGER (Django booleans, keys and counters).
    Int(i64),
    /// REAL.
    Real(f64),
    /// TEXT (Django dates and datetimes too).
    Text(String),
    /// BLOB.
    Blob(Vec<u8>),
}

/// One Django row: its table, and its values in column order (the column names are shared by
/// all rows of a read).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The Django table.
    pub table: String,
    /// Column names.
    pub names: Arc<[String]>,
    /// Values, in the order of `names`.
    pub values: Vec<Value>,
}

impl Row {
    /// The first non-NULL value among `names` (case-insensitive column names).
    pub fn value(&self, names: &[&str]) -> Option<&Value> {
        names.iter().find_map(|n| {
            self.columns()
                .find(|(c, v)| c.eq_ignore_ascii_case(n) && **v != Value::Null)
                .map(|(_, v)| v)
        })
    }

    /// (column, value) pairs in table order.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(String::as_str).zip(&self.values)
    }

    /// The primary key as text (`id`, else the first column).
    pub fn id(&self) -> String {
        self.text(&["id"])
            .or_else(|| self.names.first().and_then(|c| self.text(&[c.as_str()])))
            .unwrap_or_else(|| "?".into())
    }

    /// Text of the first present column, trimmed (names, keys, codes); empty text counts as
    /// absent. Message bodies are read with [`Row::body`].
    pub fn text(&self, names: &[&str]) -> Option<String> {
        let s = match self.value(names)? {
            Value::Null => return None,
            Value::Int(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Text(t) => t.trim().to_owned(),
            Value::Blob(b) => String::from_utf8_lossy(b).trim().to_owned(),
        };
        (!s.is_empty()).then_some(s)
    }

    /// Text of the first present column exactly as stored (message bodies: leading and
    /// trailing spaces and line breaks are the sender's); only empty text counts as absent.
    pub fn body(&self, names: &[&str]) -> Option<String> {
        let s = match self.value(names)? {
            Value::Null => return None,
            Value::Int(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Text(t) => t.clone(),
            Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        };
        (!s.is_empty()).then_some(s)
    }

    /// An integer (numeric text accepted).
    pub fn int(&self, names: &[&str]) -> Option<i64> {
        match self.value(names)? {
            Value::Int(i) => Some(*i),
            Value::Real(f) if f.fract() == 0.0 => Some(*f as i64),
            Value::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    /// A number (numeric text accepted).
    pub fn real(&self, names: &[&str]) -> Option<f64> {
        match self.value(names)? {
            Value::Int(i) => Some(*i as f64),
            Value::Real(f) => Some(*f),
            Value::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean (`1`/`0`, `true`/`false`, `t`/`f`, `yes`/`no`).
    pub fn flag(&self, names: &[&str]) -> Option<bool> {
        match self.value(names)? {
            Value::Int(i) => Some(*i != 0),
            Value::Real(f) => Some(*f != 0.0),
            Value::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "t" | "yes" | "y" => Some(true),
                "0" | "false" | "f" | "no" | "n" => Some(false),
                _ => None,
            },
            Value::Blob(_) | Value::Null => None,
        }
    }

    /// An instant: Django datetime text (naive ones read in `tz`), a date (its local midnight),
    /// or Unix seconds/milliseconds.
    pub fn time(&self, names: &[&str], tz: &TimeZone) -> Option<Timestamp> {
        match self.value(names)? {
            Value::Int(i) => Some(when::from_epoch(*i)),
            Value::Real(f) => Some(when::from_epoch(*f as i64)),
            Value::Text(t) => when::parse(t, tz),
            _ => None,
        }
    }

    /// Whether the table has this column (even if NULL here).
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// The whole row as a JSON object (blobs as hex).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (c, v) in self.columns() {
            let j = match v {
                Value::Null => serde_json::Value::Null,
                Value::Int(i) => (*i).into(),
                Value::Real(f) => serde_json::Number::from_f64(*f)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                Value::Text(t) => t.clone().into(),
                Value::Blob(b) => hex::encode(b).into(),
            };
            m.insert(c.to_owned(), j);
        }
        serde_json::Value::Object(m)
    }
}

/// The Django database, opened read-only.
pub struct Source {
    conn: SqliteConnection,
    app_label: String,
    tables: BTreeSet<String>,
}

impl Source {
    /// Opens `path` read-only (it is never written, not even its journal mode) and lists its
    /// tables. Refuses files without the app's customer and ticket tables.
    pub async fn open(path: &Path, app_label: &str) -> Result<Source, ImportError> {
        let open_err = |source| ImportError::OpenSource {
            path: path.to_owned(),
            source,
        };
        if !path.is_file() {
            return Err(ImportError::SourceMissing {
                path: path.to_owned(),
            });
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .connect()
            .await
            .map_err(open_err)?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .map_err(open_err)?;
        let source = Source {
            conn,
            app_label: app_label.to_owned(),
            tables: names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
        };
        for model in ["customer", "ticket"] {
            let table = source.model(model);
            if !source.has(&table) {
                return Err(ImportError::NotDjango {
                    path: path.to_owned(),
                    table,
                });
            }
        }
        Ok(source)
    }

    /// The table of a model of the app (`customer` -> `conversations_customer`).
    pub fn model(&self, model: &str) -> String {
        format!("{}_{}", self.app_label, model)
    }

    /// Whether the database has this table.
    pub fn has(&self, table: &str) -> bool {
        self.tables.contains(&table.to_ascii_lowercase())
    }

    /// Every row of `table` in primary-key order (none if the table does not exist).
    pub async fn rows(&mut self, table: &str) -> Result<Vec<Row>, ImportError> {
        Ok(self.page(table, None, None).await?.0)
    }

    /// Up to `limit` rows of `table` with an integer `id` above `after`, in id order, and the
    /// `after` of the next page (`None`: that was the last page). Tables whose keys are not all
    /// integers come whole in one page. Big tables are read this way so they never sit in
    /// memory whole.
    pub async fn page(
        &mut self,
        table: &str,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<(Vec<Row>, Option<i64>), ImportError> {
        if !self.has(table) {
            return Ok((Vec::new(), None));
        }
        let read_err = |source| ImportError::Read {
            table: table.to_owned(),
            source,
        };
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let cols: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT name FROM pragma_table_info('{}')",
            table.replace('\'', "''")
        ))
        .fetch_all(&mut self.conn)
        .await
        .map_err(read_err)?;
        let has_id = cols.iter().any(|c| c.eq_ignore_ascii_case("id"));
        let pageable = has_id
            && limit.is_some()
            && sqlx::query_scalar::<_, i64>(&format!(
                "SELECT count(*) FROM {quoted} WHERE typeof(id) <> 'integer'"
            ))
            .fetch_one(&mut self.conn)
            .await
            .map_err(read_err)?
                == 0;
        let rows: Vec<SqliteRow> = if pageable {
            sqlx::query(&format!(
                "SELECT * FROM {quoted} WHERE id > ? ORDER BY id LIMIT ?"
            ))
            .bind(after.unwrap_or(i64::MIN))
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(&mut self.conn)
            .await
            .map_err(read_err)?
        } else if after.is_some() {
            Vec::new()
        } else {
            let order = if has_id { "id" } else { "rowid" };
            sqlx::query(&format!("SELECT * FROM {quoted} ORDER BY {order}"))
                .fetch_all(&mut self.conn)
                .await
                .map_err(read_err)?
        };
        let names: Arc<[String]> = match rows.first() {
            Some(r) => r.columns().iter().map(|c| c.name().to_owned()).collect(),
            None => return Ok((Vec::new(), None)),
        };
        let rows = rows
            .iter()
            .map(|r| {
                Ok(Row {
                    table: table.to_owned(),
                    names: names.clone(),
                    values: decode(r).map_err(read_err)?,
                })
            })
            .collect::<Result<Vec<Row>, ImportError>>()?;
        let next = if pageable && rows.len() as i64 == limit.unwrap_or(i64::MAX) {
            rows.last().and_then(|r| r.int(&["id"]))
        } else {
            None
        };
        Ok((rows, next))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

fn decode(r: &SqliteRow) -> Result<Vec<Value>, sqlx::Error> {
    let mut values = Vec::with_capacity(r.columns().len());
    for i in 0..r.columns().len() {
        let raw = r.try_get_raw(i)?;
        let v = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" | "INT8" => Value::Int(r.try_get_unchecked(i)?),
                "REAL" => Value::Real(r.try_get_unchecked(i)?),
                "BLOB" => Value::Blob(r.try_get_unchecked(i)?),
                _ => Value::Text(r.try_get_unchecked(i)?),
            }
        };
        values.push(v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[(&str, Value)]) -> Row {
        Row {
            table: "t".into(),
            names: cols.iter().map(|(c, _)| (*c).to_owned()).collect(),
            values: cols.iter().map(|(_, v)| v.clone()).collect(),
        }
    }

    #[tokio::test]
    async fn pages_by_integer_id_and_whole_tables_otherwise() {
        let path = std::env::temp_dir().join(format!("import-source-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut c = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE conversations_customer (id INTEGER PRIMARY KEY, phone TEXT);
             CREATE TABLE conversations_ticket (id TEXT PRIMARY KEY);
             INSERT INTO conversations_customer (id) VALUES (1), (2), (5), (9), (10), (11), (20);
             INSERT INTO conversations_ticket VALUES ('b'), ('a'), ('c');",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        let mut src = Source::open(&path, "conversations").await.unwrap();
        let mut after = None;
        let mut pages = Vec::new();
        loop {
            let (rows, next) = src
                .page("conversations_customer", after, Some(3))
                .await
                .unwrap();
            pages.push(rows.iter().map(Row::id).collect::<Vec<_>>().join(","));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, ["1,2,5", "9,10,11", "20"]);
        let (rows, next) = src
            .page("conversations_ticket", None, Some(2))
            .await
            .unwrap();
        assert_eq!((rows.len(), next), (3, None));
        assert_eq!(src.rows("conversations_missing").await.unwrap(), []);
        src.close().await;
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn fallback_columns_and_types() {
        let r = row(&[
            ("id", Value::Int(7)),
            ("note_content", Value::Null),
            ("content", Value::Text("  مرحبا ".into())),
            ("is_active", Value::Text("True".into())),
            ("count", Value::Text("12".into())),
            ("empty", Value::Text("  ".into())),
        ]);
        assert_eq!(r.id(), "7");
        assert_eq!(
            r.text(&["note_content", "content"]).as_deref(),
            Some("مرحبا")
        );
        assert_eq!(r.flag(&["is_active"]), Some(true));
        assert_eq!(r.int(&["COUNT"]), Some(12));
        assert_eq!(r.text(&["empty"]), None);
        assert_eq!(r.body(&["content"]).as_deref(), Some("  مرحبا "));
        assert_eq!(r.body(&["empty"]).as_deref(), Some("  "));
        assert_eq!(r.body(&["note_content"]), None);
        assert_eq!(r.text(&["missing"]), None);
        assert!(r.has("note_content"));
    }
}
