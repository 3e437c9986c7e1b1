//! The generic list parameters of DHIS2's metadata endpoints (metadata.md "Metadata object
//! filter", "Metadata field filter", paging), applied to objects already rendered as JSON.
//!
//! * `filter=property:operator:value`, repeatable, combined with AND (`rootJunction=OR`
//!   switches to OR). Operators: `eq`, `!eq`, `ne`, `ieq`, `like`, `!like`, `$like`, `like$`,
//!   `ilike`, `!ilike`, `$ilike`, `ilike$`, `in:[a,b]`, `!in:[a,b]`, `gt`, `ge`, `lt`, `le`,
//!   `null`, `!null`. Only the properties each endpoint lists can be filtered on; anything
//!   else is a 400, as is a value that does not fit the property (a level that is not a
//!   number, a timestamp that is not ISO).
//! * `order=property:asc|desc|iasc|idesc`, comma-separated or repeated, then the endpoint's
//!   default order, then `id`.
//! * `paging` (default true), `page` (default 1), `pageSize` (default 50); the pager has
//!   `nextPage`/`prevPage` links that keep the other parameters.
//! * `fields`: the double always answers with the full objects, except `fields=id`, which
//!   gives only the ids.
//!
//! Comparisons follow SQL: a property that is not set matches nothing but `null`.

use std::cmp::Ordering;

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use crate::import::query_pairs;
use crate::time;

/// How a property's values compare.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Time,
}

/// What one list endpoint offers.
pub(crate) struct Spec {
    /// The key of the list in the answer (`organisationUnits`).
    pub(crate) collection: &'static str,
    /// The path of the endpoint, for pager links (`/api/organisationUnits`).
    pub(crate) path: &'static str,
    /// The properties that can be filtered and ordered on; `parent.id` reads a nested one.
    pub(crate) properties: &'static [(&'static str, Kind)],
    /// Applied after any explicit `order`.
    pub(crate) default_order: &'static [&'static str],
}

#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum Scalar {
    Text(String),
    Int(i64),
    Time(NaiveDateTime),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    IEq,
    Like { negate: bool, insensitive: bool, anchor: Anchor },
    In { negate: bool },
    Gt,
    Ge,
    Lt,
    Le,
    Null,
    NotNull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    Anywhere,
    Start,
    End,
}

struct Filter {
    property: &'static str,
    kind: Kind,
    op: Op,
    operands: Vec<Scalar>,
    /// The operand as sent, for `like` and `ieq`.
    raw: String,
}

struct Order {
    property: &'static str,
    kind: Kind,
    descending: bool,
    ignore_case: bool,
}

/// Applies the query string to `items` and builds the answer `{pager?, <collection>}`;
/// `implied` are filters an endpoint derives from its own parameters (they always AND).
/// `Err` is a bad request.
pub(crate) fn list(
    spec: &Spec,
    items: Vec<Value>,
    query: &str,
    implied: &[String],
    base_url: &str,
) -> Result<Value, String> {
    let pairs = query_pairs(query);
    let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    let mut filters = Vec::new();
    for (_, raw) in pairs.iter().filter(|(k, _)| k == "filter") {
        filters.push(parse_filter(spec, raw)?);
    }
    let implied = implied.iter().map(|raw| parse_filter(spec, raw)).collect::<Result<Vec<_>, _>>()?;
    let any = match get("rootJunction") {
        None => false,
        Some(j) if j.eq_ignore_ascii_case("AND") => false,
        Some(j) if j.eq_ignore_ascii_case("OR") => true,
        Some(j) => return Err(format!("Value `{j}` of parameter `rootJunction` is not one of AND, OR")),
    };
    let mut orders = Vec::new();
    for (_, raw) in pairs.iter().filter(|(k, _)| k == "order") {
        for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
            orders.push(parse_order(spec, part.trim())?);
        }
    }
    for name in spec.default_order.iter().chain(&["id"]) {
        orders.push(parse_order(spec, name)?);
    }
    let paging = match get("paging") {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(format!("Value `{v}` of parameter `paging` is not a boolean (true or false)")),
    };
    let number = |name: &str, default: usize| match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map(|n| n.max(1))
            .map_err(|_| format!("Value `{v}` of parameter `{name}` is not a positive number")),
    };
    let page = number("page", 1)?;
    let page_size = number("pageSize", 50)?;
    let only_ids = get("fields").is_some_and(|f| f.trim() == "id");

    let mut selected = Vec::new();
    for item in items {
        let mut results = filters.iter().map(|f| f.matches(&item));
        let keep = if any { filters.is_empty() || results.any(|r| r) } else { results.all(|r| r) };
        let keep = keep && implied.iter().all(|f| f.matches(&item));
        if keep {
            selected.push(item);
        }
    }
    selected.sort_by(|a, b| {
        orders.iter().map(|o| o.compare(a, b)).find(|o| *o != Ordering::Equal).unwrap_or(Ordering::Equal)
    });

    let total = selected.len();
    let mut out = Map::new();
    let shown: Vec<Value> = if paging {
        let page_count = total.div_ceil(page_size).max(1);
        let mut pager = json!({ "page": page, "pageCount": page_count, "total": total, "pageSize": page_size });
        let link = |target: usize| {
            let rest: Vec<&str> =
                query.split('&').filter(|p| !p.is_empty() && p.split('=').next() != Some("page")).collect();
            let mut url = format!("{base_url}{}?page={target}", spec.path);
            for p in rest {
                url.push('&');
                url.push_str(p);
            }
            url
        };
        if page < page_count {
            pager["nextPage"] = json!(link(page + 1));
        }
        if page > 1 {
            pager["prevPage"] = json!(link(page - 1));
        }
        out.insert("pager".into(), pager);
        selected.into_iter().skip((page - 1).saturating_mul(page_size)).take(page_size).collect()
    } else {
        selected
    };
    let shown = if only_ids { shown.iter().map(|item| json!({ "id": item["id"] })).collect() } else { shown };
    out.insert(spec.collection.into(), Value::Array(shown));
    Ok(Value::Object(out))
}

fn property(spec: &Spec, name: &str) -> Option<(&'static str, Kind)> {
    spec.properties.iter().find(|(p, _)| *p == name).copied()
}

fn unknown_property(spec: &Spec, name: &str) -> String {
    let known: Vec<&str> = spec.properties.iter().map(|(p, _)| *p).collect();
    format!("Unknown path property: `{name}` (the DHIS2 double supports {})", known.join(", "))
}

fn parse_filter(spec: &Spec, raw: &str) -> Result<Filter, String> {
    let mut parts = raw.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let op_name = parts.next().ok_or_else(|| format!("Invalid filter `{raw}`, expected property:operator:value"))?;
    let raw_value = parts.next();
    let (property, kind) = property(spec, name).ok_or_else(|| unknown_property(spec, name))?;
    let like = |negate, insensitive, anchor| Op::Like { negate, insensitive, anchor };
    let op = match op_name {
        "eq" => Op::Eq,
        "!eq" | "ne" | "neq" => Op::NotEq,
        "ieq" => Op::IEq,
        "like" => like(false, false, Anchor::Anywhere),
        "!like" => like(true, false, Anchor::Anywhere),
        "$like" => like(false, false, Anchor::Start),
        "like$" => like(false, false, Anchor::End),
        "ilike" => like(false, true, Anchor::Anywhere),
        "!ilike" => like(true, true, Anchor::Anywhere),
        "$ilike" => like(false, true, Anchor::Start),
        "ilike$" => like(false, true, Anchor::End),
        "in" => Op::In { negate: false },
        "!in" => Op::In { negate: true },
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        "null" => Op::Null,
        "!null" => Op::NotNull,
        _ => return Err(format!("`{op_name}` is not a valid operator (filter `{raw}`)")),
    };
    if matches!(op, Op::Like { .. } | Op::IEq) && kind != Kind::Text {
        return Err(format!("Operator `{op_name}` is not supported for property `{property}`"));
    }
    let raw_value = raw_value.unwrap_or_default();
    let operands = match op {
        Op::Null | Op::NotNull => Vec::new(),
        Op::In { .. } => {
            let inner = raw_value
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .ok_or_else(|| format!("Invalid filter `{raw}`: `in` needs a list like [a,b]"))?;
            inner.split(',').map(|v| scalar(kind, v.trim(), raw)).collect::<Result<_, _>>()?
        }
        _ => vec![scalar(kind, raw_value, raw)?],
    };
    Ok(Filter { property, kind, op, operands, raw: raw_value.to_owned() })
}

fn scalar(kind: Kind, value: &str, filter: &str) -> Result<Scalar, String> {
    match kind {
        Kind::Text => Ok(Scalar::Text(value.to_owned())),
        Kind::Int => {
            value.parse().map(Scalar::Int).map_err(|_| format!("Invalid filter `{filter}`: `{value}` is not a number"))
        }
        Kind::Time => time::parse(value)
            .map(Scalar::Time)
            .ok_or_else(|| format!("Invalid filter `{filter}`: `{value}` is not an ISO date or timestamp")),
    }
}

fn parse_order(spec: &Spec, raw: &str) -> Result<Order, String> {
    let (name, direction) = raw.split_once(':').unwrap_or((raw, "asc"));
    let (property, kind) = property(spec, name)
        .ok_or_else(|| format!("Order not supported: `{raw}` ({})", unknown_property(spec, name)))?;
    let (descending, ignore_case) = match direction.to_ascii_lowercase().as_str() {
        "asc" => (false, false),
        "desc" => (true, false),
        "iasc" => (false, true),
        "idesc" => (true, true),
        _ => return Err(format!("Order not supported: `{raw}`, the direction must be asc, desc, iasc or idesc")),
    };
    Ok(Order { property, kind, descending, ignore_case })
}

/// The value of `property` (dotted for nested objects) in `item`, read as `kind`.
fn read(item: &Value, property: &str, kind: Kind) -> Option<Scalar> {
    let value = property.split('.').try_fold(item, |v, key| v.get(key))?;
    match (kind, value) {
        (Kind::Int, Value::Number(n)) => n.as_i64().map(Scalar::Int),
        (Kind::Time, Value::String(s)) => time::parse(s).map(Scalar::Time),
        (Kind::Text, Value::String(s)) => Some(Scalar::Text(s.clone())),
        _ => None,
    }
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let value = read(item, self.property, self.kind);
        let Some(value) = value else {
            return self.op == Op::Null;
        };
        let first = self.operands.first();
        match self.op {
            Op::Null => false,
            Op::NotNull => true,
            Op::Eq => Some(&value) == first,
            Op::NotEq => Some(&value) != first,
            Op::IEq => text(&value).to_lowercase() == self.raw.to_lowercase(),
            Op::Like { negate, insensitive, anchor } => {
                let (haystack, needle) = if insensitive {
                    (text(&value).to_lowercase(), self.raw.to_lowercase())
                } else {
                    (text(&value).to_owned(), self.raw.clone())
                };
                let found = match anchor {
                    Anchor::Anywhere => haystack.contains(&needle),
                    Anchor::Start => haystack.starts_with(&needle),
                    Anchor::End => haystack.ends_with(&needle),
                };
                found != negate
            }
            Op::In { negate } => self.operands.contains(&value) != negate,
            Op::Gt => first.is_some_and(|o| value > *o),
            Op::Ge => first.is_some_and(|o| value >= *o),
            Op::Lt => first.is_some_and(|o| value < *o),
            Op::Le => first.is_some_and(|o| value <= *o),
        }
    }
}

fn text(s: &Scalar) -> &str {
    match s {
        Scalar::Text(t) => t,
        _ => "",
    }
}

impl Order {
    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let key = |item: &Value| {
            read(item, self.property, self.kind).map(|s| match s {
                Scalar::Text(t) if self.ignore_case => Scalar::Text(t.to_lowercase()),
                other => other,
            })
        };
        let ordering = match (key(a), key(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            // Unset values sort last.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if self.descending { ordering.reverse() } else { ordering }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        collection: "things",
        path: "/api/things",
        properties: &[("id", Kind::Text), ("name", Kind::Text), ("level", Kind::Int), ("lastUpdated", Kind::Time)],
        default_order: &["level", "name"],
    };

    fn items() -> Vec<Value> {
        vec![
            json!({ "id": "c", "name": "Gamma", "level": 2, "lastUpdated": "2024-05-01T00:00:00.000" }),
            json!({ "id": "a", "name": "alpha", "level": 1, "lastUpdated": "2024-01-01T00:00:00.000" }),
            json!({ "id": "b", "name": "Beta", "level": 2 }),
        ]
    }

    fn ids(answer: &Value) -> Vec<&str> {
        answer["things"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect()
    }

    #[test]
    fn default_order_paging_and_links() {
        let answer = list(&SPEC, items(), "pageSize=2&fields=id", &[], "http://x").unwrap();
        assert_eq!(ids(&answer), ["a", "b"]);
        assert_eq!(answer["things"][0], json!({ "id": "a" }));
        let pager = &answer["pager"];
        assert_eq!(
            (pager["page"].as_u64(), pager["pageCount"].as_u64(), pager["total"].as_u64()),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!(pager["nextPage"], "http://x/api/things?page=2&pageSize=2&fields=id");
        assert!(pager.get("prevPage").is_none());
        let second = list(&SPEC, items(), "page=2&pageSize=2", &[], "http://x").unwrap();
        assert_eq!(ids(&second), ["c"]);
        assert!(second["pager"].get("nextPage").is_none());
        assert_eq!(second["pager"]["prevPage"], "http://x/api/things?page=1&pageSize=2");
        let all = list(&SPEC, items(), "paging=false", &[], "http://x").unwrap();
        assert!(all.get("pager").is_none());
        assert_eq!(ids(&all).len(), 3);
    }

    #[test]
    fn filters_combine_with_and_or_or() {
        let q = |query: &str| ids(&list(&SPEC, items(), query, &[], "").unwrap()).join(",");
        assert_eq!(q("filter=level:eq:2"), "b,c");
        assert_eq!(q("filter=level:le:1"), "a");
        assert_eq!(q("filter=level:eq:2&filter=name:like:et"), "b");
        assert_eq!(q("filter=id:in:[a,c]"), "a,c");
        assert_eq!(q("filter=id:!in:[a,c]"), "b");
        assert_eq!(q("filter=name:ilike:ALPH"), "a");
        assert_eq!(q("filter=name:like:ALPH"), "");
        assert_eq!(q("filter=lastUpdated:gt:2024-02-01"), "c");
        assert_eq!(q("filter=lastUpdated:null"), "b");
        assert_eq!(q("filter=id:eq:a&filter=id:eq:b&rootJunction=OR"), "a,b");
        assert_eq!(q("order=name:iasc"), "a,b,c");
        assert_eq!(q("order=name:asc"), "b,c,a");
        assert_eq!(q("order=level:desc,name:desc"), "c,b,a");
    }

    #[test]
    fn unsupported_filters_and_values_are_bad_requests() {
        for query in [
            "filter=colour:eq:red",
            "filter=level:eq:two",
            "filter=level:like:1",
            "filter=name:regex:x",
            "filter=name",
            "filter=lastUpdated:gt:yesterday",
            "filter=id:in:a,b",
            "order=colour:asc",
            "order=name:up",
            "paging=maybe",
            "page=x",
        ] {
            assert!(list(&SPEC, items(), query, &[], "").is_err(), "{query}");
        }
    }
}
