//! Reading a request's JSON body or query string into a typed struct, naming the field it got
//! wrong: the path comes from `serde_path_to_error`, and what went wrong from the error serde
//! raised (a missing field, an unknown one, or a bad value), never from its message text.
//!
//! serde_json's and serde_urlencoded's own errors only carry text, so both inputs go through
//! one small deserialiser here whose error type is [`FieldError`]: a JSON body is parsed into a
//! `serde_json::Value` first (syntax), then read into the target type from that value; a query
//! parameter's text is parsed into the type its field asks for.

use super::error::ApiError;
use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// What serde found wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// A required field is absent.
    Missing(&'static str),
    /// A field the type does not have (where the type refuses unknown fields).
    Unknown(String),
    /// The value is of the wrong type or out of range.
    Invalid(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing(_) => f.write_str("required"),
            FieldError::Unknown(_) => f.write_str("not a known field"),
            FieldError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FieldError::Invalid(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError::Missing(field)
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        FieldError::Unknown(field.to_owned())
    }
}

/// The 422 for a field error at `path` (`.` is the whole input, named `root`).
fn to_api(e: serde_path_to_error::Error<FieldError>, root: &str) -> ApiError {
    let path = e.path().to_string();
    let at = |name: &str| match path.as_str() {
        "." | "" => name.to_owned(),
        p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        p => format!("{p}.{name}"),
    };
    let field = match e.inner() {
        FieldError::Missing(name) => at(name),
        FieldError::Unknown(name) => at(name),
        FieldError::Invalid(_) if path == "." || path.is_empty() => root.to_owned(),
        FieldError::Invalid(_) => path.clone(),
    };
    ApiError::invalid(field, e.into_inner().to_string())
}

/// Reads a JSON body into `T`; a 422 names the field (`body` for the body as a whole).
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::invalid("body", "not valid JSON"))?;
    serde_path_to_error::deserialize(Input::<FieldError>::json(value))
        .map_err(|e| to_api(e, "body"))
}

/// Reads a query string (without the `?`) into `T`; a 422 names the parameter. A parameter
/// given empty (`?limit=`) counts as absent for `Option` fields.
pub fn query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .map(|(k, v)| (k, Input::<FieldError>::text(v)));
    serde_path_to_error::deserialize(MapDeserializer::new(pairs)).map_err(|e| to_api(e, "query"))
}

/// One input value as a deserialiser with any error type: a parsed JSON value, or one query
/// parameter's text, parsed into whatever the field asks for.
struct Input<E>(Source, PhantomData<E>);

enum Source {
    Json(Value),
    Text(String),
}

impl<E> Input<E> {
    fn json(v: Value) -> Self {
        Input(Source::Json(v), PhantomData)
    }

    fn text(v: String) -> Self {
        Input(Source::Text(v), PhantomData)
    }
}

impl<'de, E: de::Error> IntoDeserializer<'de, E> for Input<E> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

fn entries<E>(m: serde_json::Map<String, Value>) -> impl Iterator<Item = (String, Input<E>)> {
    m.into_iter().map(|(k, v)| (k, Input::json(v)))
}

/// A scalar: a JSON value is what it is; a parameter's text is parsed as the field's type.
macro_rules! scalar {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
            match self.0 {
                Source::Json(_) => self.deserialize_any(visitor),
                Source::Text(t) => match t.trim().parse::<$ty>() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(E::invalid_value(Unexpected::Str(&t), &visitor)),
                },
            }
        }
    )*};
}

impl<'de, E: de::Error> de::Deserializer<'de> for Input<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        let value = match self.0 {
            Source::Text(t) => return visitor.visit_string(t),
            Source::Json(v) => v,
        };
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                (None, None) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Array(a) => {
                let mut seq = SeqDeserializer::new(a.into_iter().map(Input::json));
                let v = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(v)
            }
            Value::Object(m) => {
                let mut map = MapDeserializer::new(entries(m));
                let v = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(v)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match &self.0 {
            Source::Json(Value::Null) => visitor.visit_none(),
            Source::Text(t) if t.trim().is_empty() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.0 {
            Source::Text(t) => visitor.visit_enum(t.trim().to_owned().into_deserializer()),
            Source::Json(Value::String(s)) => visitor.visit_enum(s.into_deserializer()),
            // `{"variant": content}`, as serde_json reads an externally tagged enum.
            Source::Json(Value::Object(m)) if m.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(entries(m))))
            }
            json => Input(json, PhantomData).deserialize_any(visitor),
        }
    }

    scalar! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Day {
        day: jiff::civil::Date,
        name: String,
    }

    #[derive(Debug, Deserialize)]
    struct Body {
        title: String,
        #[serde(default)]
        items: Vec<Day>,
        #[serde(default)]
        kind: Option<crate::domain::routing::AgentStatus>,
    }

    fn field(e: ApiError) -> String {
        match e {
            ApiError::Validation { field, .. } => field,
            other => panic!("not a 422: {other:?}"),
        }
    }

    #[test]
    fn a_body_error_names_the_field_by_its_path() {
        let bad = |s: &str| field(json::<Body>(s.as_bytes()).unwrap_err());
        assert_eq!(bad("{}"), "title");
        assert_eq!(bad(r#"{"title": 3}"#), "title");
        assert_eq!(
            bad(
                r#"{"title": "t", "items": [{"day": "2026-01-01", "name": "x"}, {"day": "no", "name": "y"}]}"#
            ),
            "items[1].day"
        );
        assert_eq!(
            bad(r#"{"title": "t", "items": [{"day": "2026-01-01"}]}"#),
            "items[0].name"
        );
        assert_eq!(bad(r#"{"title": "t", "kind": "asleep"}"#), "kind");
        assert_eq!(bad("[1"), "body");
        assert_eq!(bad("[]"), "body");
        let ok: Body = json(br#"{"title": "t", "kind": "away", "extra": 1, "items": [{"day": "2026-01-01", "name": "x"}]}"#).unwrap();
        assert_eq!(ok.kind, Some(crate::domain::routing::AgentStatus::Away));
        assert_eq!((ok.title.as_str(), ok.items.len()), ("t", 1));
        assert_eq!(ok.items[0].day.to_string(), "2026-01-01");
        assert_eq!(ok.items[0].name, "x");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        inner: StrictInner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StrictInner {
        a: u32,
    }

    #[test]
    fn an_unknown_field_is_named_where_it_stands() {
        let e = json::<Strict>(br#"{"inner": {"a": 1, "b": 2}}"#).unwrap_err();
        assert_eq!(field(e), "inner.b");
        let e = json::<Strict>(br#"{"inner": {}}"#).unwrap_err();
        assert_eq!(field(e), "inner.a");
        let ok: Strict = json(br#"{"inner": {"a": 1}}"#).unwrap();
        assert_eq!(ok.inner.a, 1);
    }

    #[derive(Debug, Deserialize)]
    struct Q {
        limit: Option<i64>,
        from: Option<jiff::civil::Date>,
        flag: Option<bool>,
        status: Option<crate::domain::routing::AgentStatus>,
        text: Option<String>,
    }

    #[test]
    fn a_query_error_names_the_parameter_and_blank_is_absent() {
        let q: Q = query("limit=5&from=2026-02-03&flag=true&status=online&text=a%20b").unwrap();
        assert_eq!((q.limit, q.flag), (Some(5), Some(true)));
        assert_eq!(q.from.map(|d| d.to_string()).as_deref(), Some("2026-02-03"));
        assert_eq!(q.status, Some(crate::domain::routing::AgentStatus::Online));
        assert_eq!(q.text.as_deref(), Some("a b"));
        let q: Q = query("limit=&from=+&text=").unwrap();
        assert_eq!((q.limit, q.from, q.text), (None, None, None));
        for (s, f) in [
            ("limit=x", "limit"),
            ("from=2026-13-01", "from"),
            ("flag=yes", "flag"),
            ("status=asleep", "status"),
        ] {
            assert_eq!(field(query::<Q>(s).unwrap_err()), f, "{s}");
        }
    }
}
