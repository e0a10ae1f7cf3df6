//! The IPC 2.0 schema (`schema/nanoapi.fbs`) as data: every table with its fields, field
//! ids and defaults, the `Block` and `Message` unions and the byte enums. One description
//! drives the JSON checks (encoding 4 and `/api/v2`), the FlatBuffers verifier, encoder and
//! decoder (encoding 3), so the two encodings cannot drift apart.
//!
//! Messages travel inside the crate as JSON objects shaped the way `flatc` prints them:
//! field names as in the schema, enums by name, unions as `<field>_type` + `<field>`.

use serde_json::{Map, Value};

use super::scalars::Scalar;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    /// A bool with its schema default.
    Bool(bool),
    U64,
    I32,
    /// A `byte` enum: value names by number, and the default value.
    Enum(&'static [&'static str], i8),
    Table(&'static TableDef),
    StrVec,
    /// A union: the type byte lives at `id - 1`, the table offset at `id`.
    Union(&'static UnionDef),
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    /// Field id as flatc numbers them (unions take two ids; this is the value's id).
    pub id: u16,
    pub kind: Kind,
    pub required: bool,
}

impl Field {
    /// The vtable slot of the field's value.
    pub fn slot(&self) -> u16 {
        4 + 2 * self.id
    }
    /// The vtable slot of a union field's type byte.
    pub fn type_slot(&self) -> u16 {
        4 + 2 * (self.id - 1)
    }
}

#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug)]
pub struct UnionDef {
    pub name: &'static str,
    /// Members in declaration order; the wire type code is the index + 1 (0 is NONE).
    pub members: &'static [&'static TableDef],
}

impl UnionDef {
    pub fn by_name(&self, name: &str) -> Option<(u8, &'static TableDef)> {
        self.members
            .iter()
            .position(|t| t.name == name)
            .map(|i| (i as u8 + 1, self.members[i]))
    }
    pub fn by_code(&self, code: u8) -> Option<&'static TableDef> {
        (code as usize)
            .checked_sub(1)
            .and_then(|i| self.members.get(i).copied())
    }
    /// The type code of a type written as several names separated by single spaces, as
    /// the reference's parser reads an enum text: each name a member (or `NONE`), their
    /// codes ORed. `None` for one name (see [`Self::by_name`]) or an unknown word.
    pub fn ored_code(&self, names: &str) -> Option<u8> {
        if !names.contains(' ') {
            return None;
        }
        names.split(' ').try_fold(0u8, |code, word| match word {
            "NONE" => Some(code),
            _ => self.by_name(word).map(|(c, _)| code | c),
        })
    }
}

const fn f(name: &'static str, id: u16, kind: Kind) -> Field {
    Field {
        name,
        id,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, id: u16, kind: Kind) -> Field {
    Field {
        name,
        id,
        kind,
        required: true,
    }
}

pub const BLOCK_SUB_TYPE: &[&str] = &["invalid", "receive", "send", "change", "epoch"];
pub const CONFIRMATION_TYPE_FILTER: &[&str] = &[
    "all",
    "active",
    "active_quorum",
    "active_confirmation_height",
    "inactive",
];
pub const CONFIRMATION_TYPE: &[&str] = &["active_quorum", "active_confirmation_height", "inactive"];

use Kind::*;

pub static ACCOUNT_WEIGHT: TableDef = TableDef {
    name: "AccountWeight",
    fields: &[req("account", 0, Str)],
};
pub static ACCOUNT_WEIGHT_RESPONSE: TableDef = TableDef {
    name: "AccountWeightResponse",
    fields: &[req("voting_weight", 0, Str)],
};
pub static BLOCK_OPEN: TableDef = TableDef {
    name: "BlockOpen",
    fields: &[
        f("hash", 0, Str),
        f("account", 1, Str),
        f("source", 2, Str),
        f("representative", 3, Str),
        f("signature", 4, Str),
        f("work", 5, Str),
    ],
};
pub static BLOCK_RECEIVE: TableDef = TableDef {
    name: "BlockReceive",
    fields: &[
        f("hash", 0, Str),
        f("previous", 1, Str),
        f("source", 2, Str),
        f("signature", 3, Str),
        f("work", 4, Str),
    ],
};
pub static BLOCK_SEND: TableDef = TableDef {
    name: "BlockSend",
    fields: &[
        f("hash", 0, Str),
        f("previous", 1, Str),
        f("destination", 2, Str),
        f("balance", 3, Str),
        f("signature", 4, Str),
        f("work", 5, Str),
    ],
};
pub static BLOCK_CHANGE: TableDef = TableDef {
    name: "BlockChange",
    fields: &[
        f("hash", 0, Str),
        f("previous", 1, Str),
        f("representative", 2, Str),
        f("signature", 3, Str),
        f("work", 4, Str),
    ],
};
pub static BLOCK_STATE: TableDef = TableDef {
    name: "BlockState",
    fields: &[
        f("hash", 0, Str),
        f("account", 1, Str),
        f("previous", 2, Str),
        f("representative", 3, Str),
        f("balance", 4, Str),
        f("link", 5, Str),
        f("link_as_account", 6, Str),
        f("signature", 7, Str),
        f("work", 8, Str),
        f("subtype", 9, Enum(BLOCK_SUB_TYPE, 0)),
    ],
};
pub static BLOCK: UnionDef = UnionDef {
    name: "Block",
    members: &[
        &BLOCK_STATE,
        &BLOCK_OPEN,
        &BLOCK_RECEIVE,
        &BLOCK_SEND,
        &BLOCK_CHANGE,
    ],
};
pub static BLOCK_INFO: TableDef = TableDef {
    name: "BlockInfo",
    fields: &[f("block", 1, Union(&BLOCK))],
};
pub static SERVICE_REGISTER: TableDef = TableDef {
    name: "ServiceRegister",
    fields: &[f("service_name", 0, Str)],
};
pub static SERVICE_STOP: TableDef = TableDef {
    name: "ServiceStop",
    fields: &[req("service_name", 0, Str), f("restart", 1, Bool(false))],
};
pub static TOPIC_SERVICE_STOP: TableDef = TableDef {
    name: "TopicServiceStop",
    fields: &[f("unsubscribe", 0, Bool(false))],
};
pub static EVENT_SERVICE_STOP: TableDef = TableDef {
    name: "EventServiceStop",
    fields: &[],
};
pub static EVENT_ACK: TableDef = TableDef {
    name: "EventAck",
    fields: &[],
};
pub static TOPIC_CONFIRMATION_OPTIONS: TableDef = TableDef {
    name: "TopicConfirmationOptions",
    fields: &[
        f(
            "confirmation_type_filter",
            0,
            Enum(CONFIRMATION_TYPE_FILTER, 0),
        ),
        f("all_local_accounts", 1, Bool(false)),
        f("accounts", 2, StrVec),
        f("include_block", 3, Bool(true)),
        f("include_election_info", 4, Bool(true)),
    ],
};
pub static TOPIC_CONFIRMATION: TableDef = TableDef {
    name: "TopicConfirmation",
    fields: &[
        f("unsubscribe", 0, Bool(false)),
        f("options", 1, Table(&TOPIC_CONFIRMATION_OPTIONS)),
    ],
};
pub static ELECTION_INFO: TableDef = TableDef {
    name: "ElectionInfo",
    fields: &[
        f("duration", 0, U64),
        f("time", 1, U64),
        f("tally", 2, Str),
        f("request_count", 3, U64),
        f("block_count", 4, U64),
        f("voter_count", 5, U64),
    ],
};
pub static EVENT_CONFIRMATION: TableDef = TableDef {
    name: "EventConfirmation",
    fields: &[
        f("confirmation_type", 0, Enum(CONFIRMATION_TYPE, 0)),
        f("account", 1, Str),
        f("amount", 2, Str),
        f("hash", 3, Str),
        f("block", 5, Union(&BLOCK)),
        f("election_info", 6, Table(&ELECTION_INFO)),
    ],
};
pub static ERROR: TableDef = TableDef {
    name: "Error",
    fields: &[
        f("code", 0, I32),
        f("category", 1, I32),
        f("message", 2, Str),
    ],
};
pub static SUCCESS: TableDef = TableDef {
    name: "Success",
    fields: &[f("message", 0, Str)],
};
pub static IS_ALIVE: TableDef = TableDef {
    name: "IsAlive",
    fields: &[],
};
pub static MESSAGE: UnionDef = UnionDef {
    name: "Message",
    members: &[
        &ERROR,
        &SUCCESS,
        &IS_ALIVE,
        &EVENT_ACK,
        &BLOCK_INFO,
        &ACCOUNT_WEIGHT,
        &ACCOUNT_WEIGHT_RESPONSE,
        &TOPIC_CONFIRMATION,
        &EVENT_CONFIRMATION,
        &SERVICE_REGISTER,
        &SERVICE_STOP,
        &TOPIC_SERVICE_STOP,
        &EVENT_SERVICE_STOP,
    ],
};
/// The root table. Its `message` union is handled by the envelope code, the rest here.
pub static ENVELOPE: TableDef = TableDef {
    name: "Envelope",
    fields: &[
        f("time", 0, U64),
        f("credentials", 1, Str),
        f("correlation_id", 2, Str),
        f("message", 4, Union(&MESSAGE)),
    ],
};

/// Nesting allowed in JSON input: the schema is at most four tables deep, so anything
/// deeper is malformed and is refused before recursion gets far.
const MAX_DEPTH: usize = 8;

/// Checks a JSON value against a table and returns it in canonical form: fields in schema
/// order, enums by name, unions as `<field>_type` (name) + `<field>`. A table may also be
/// written as a list of its fields ([`positional`]), as the reference's parser reads it. Unknown fields are
/// skipped (the reference's `skip_unexpected_fields_in_json` default). The error text
/// names the offending field.
pub fn normalize(def: &TableDef, v: &Value) -> Result<Map<String, Value>, String> {
    normalize_at(def, v, 0)
}

fn normalize_at(def: &TableDef, v: &Value, depth: usize) -> Result<Map<String, Value>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: nesting too deep", def.name));
    }
    let listed;
    let obj = match v {
        Value::Object(obj) => obj,
        Value::Array(items) => {
            listed = positional(def, items)?;
            &listed
        }
        _ => return Err(format!("{} must be a JSON object", def.name)),
    };
    let mut out = Map::new();
    for field in def.fields {
        let name = field.name;
        if let Union(u) = field.kind {
            let type_key = format!("{name}_type");
            let member = match obj.get(&type_key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => match u.by_name(s) {
                    Some((_, t)) => Some(t),
                    // Names ORed into a member's code are that member (into 0, none).
                    None => match u.ored_code(s) {
                        Some(0) => None,
                        Some(c) if u.by_code(c).is_some() => u.by_code(c),
                        _ => {
                            return Err(format!(
                                "unknown {} type {s:?} in field '{type_key}' of {}",
                                u.name, def.name
                            ))
                        }
                    },
                },
                Some(Value::Number(n)) => match n.as_u64().filter(|c| *c <= u8::MAX as u64) {
                    Some(0) => None,
                    Some(c) => match u.by_code(c as u8) {
                        Some(t) => Some(t),
                        None => {
                            return Err(format!(
                                "unknown {} type {c} in field '{type_key}' of {}",
                                u.name, def.name
                            ))
                        }
                    },
                    None => {
                        return Err(format!(
                            "field '{type_key}' of {} must be a type name",
                            def.name
                        ))
                    }
                },
                Some(_) => {
                    return Err(format!(
                        "field '{type_key}' of {} must be a type name",
                        def.name
                    ))
                }
            };
            // A `null` message is an absent one, as the reference's parser skips it.
            match (member, obj.get(name).filter(|v| !v.is_null())) {
                (Some(t), Some(val)) => {
                    out.insert(type_key, Value::String(t.name.into()));
                    out.insert(name.into(), Value::Object(normalize_at(t, val, depth + 1)?));
                }
                (Some(t), None) => {
                    out.insert(type_key, Value::String(t.name.into()));
                    out.insert(
                        name.into(),
                        Value::Object(normalize_at(t, &Value::Object(Map::new()), depth + 1)?),
                    );
                }
                (None, Some(_)) => {
                    return Err(format!("field '{name}' of {} needs '{type_key}'", def.name))
                }
                (None, None) if field.required => {
                    return Err(format!(
                        "required field '{name}' is missing in {}",
                        def.name
                    ))
                }
                (None, None) => {}
            }
            continue;
        }
        let Some(val) = obj.get(name).filter(|v| !v.is_null()) else {
            if field.required {
                return Err(format!(
                    "required field '{name}' is missing in {}",
                    def.name
                ));
            }
            continue;
        };
        let bad = |what: &str| format!("field '{name}' of {} must be {what}", def.name);
        let norm = match field.kind {
            Str => match val {
                Value::String(_) => val.clone(),
                _ => return Err(bad("a string")),
            },
            // As the reference's parser takes a bool: a byte, as a number or a string
            // (read as it reads numbers, [`Scalar::parse`]), any but 0 true.
            Bool(_) => match val {
                Value::Bool(_) => val.clone(),
                Value::Number(n) if n.as_u64().is_some_and(|n| n <= 255) => {
                    Value::Bool(n.as_u64() != Some(0))
                }
                Value::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
                Value::String(s) => match string_number(s, Scalar::Bool) {
                    Some(n) => Value::Bool(n != 0),
                    None => return Err(bad("a boolean")),
                },
                _ => return Err(bad("a boolean")),
            },
            U64 => match val {
                Value::Number(n) if n.is_u64() => val.clone(),
                Value::String(s) => match string_number(s, Scalar::U64) {
                    Some(n) => Value::from(n as u64),
                    None => return Err(bad("an unsigned integer")),
                },
                _ => return Err(bad("an unsigned integer")),
            },
            I32 => match val {
                Value::Number(n) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {
                    val.clone()
                }
                Value::String(s) => match string_number(s, Scalar::I32) {
                    Some(n) => Value::from(n as i32),
                    None => return Err(bad("a 32-bit integer")),
                },
                _ => return Err(bad("a 32-bit integer")),
            },
            Enum(names, _) => {
                // A name, or a number (as the reference's parser reads one) naming a value.
                let number = match val {
                    Value::String(s) if s.starts_with(|c: char| c.is_ascii_alphabetic()) => None,
                    Value::String(s) => string_number(s, Scalar::I8),
                    Value::Number(n) => n.as_u64().map(i128::from),
                    _ => None,
                };
                let idx = match val {
                    Value::String(s) if number.is_none() => names.iter().position(|x| x == s),
                    _ => number
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n < names.len()),
                };
                match idx {
                    Some(i) => Value::String(names[i].into()),
                    None => return Err(bad(&format!("one of {}", names.join(", ")))),
                }
            }
            Table(t) => Value::Object(normalize_at(t, val, depth + 1)?),
            StrVec => match val {
                Value::Array(a) if a.iter().all(Value::is_string) => val.clone(),
                _ => return Err(bad("an array of strings")),
            },
            Union(_) => unreachable!("handled above"),
        };
        out.insert(name.into(), norm);
    }
    Ok(out)
}

/// The names a table's fields take in the schema's declaration order, as the reference's
/// parser numbers them: a union is two fields, its type (`<name>_type`) then its value.
/// With whether each holds a scalar (a `null` there is not an absent field).
pub fn declared_fields(def: &TableDef) -> Vec<(String, bool)> {
    let mut out = Vec::with_capacity(def.fields.len() + 1);
    for f in def.fields {
        match f.kind {
            Union(_) => {
                out.push((format!("{}_type", f.name), true));
                out.push((f.name.to_string(), false));
            }
            Bool(_) | U64 | I32 | Enum(..) => out.push((f.name.to_string(), true)),
            Str | Table(_) | StrVec => out.push((f.name.to_string(), false)),
        }
    }
    out
}

/// A table written as a JSON array, which the reference's parser reads as its fields in
/// declaration order ([`declared_fields`]): the same table as an object. A `null` element
/// where a non-scalar field is due is skipped without taking that field, as the parser
/// skips it; the fields taken must then be exactly the table's.
pub fn positional(def: &TableDef, items: &[Value]) -> Result<Map<String, Value>, String> {
    let names = declared_fields(def);
    let mut out = Map::new();
    let mut taken = 0;
    for item in items {
        let Some((name, scalar)) = names.get(taken) else {
            return Err(format!(
                "too many unnamed fields in nested array ({})",
                def.name
            ));
        };
        if item.is_null() {
            if *scalar {
                return Err(format!("field '{name}' of {} cannot be null", def.name));
            }
            continue;
        }
        out.insert(name.clone(), item.clone());
        taken += 1;
    }
    if taken != names.len() {
        return Err(format!(
            "wrong number of unnamed fields in table vector ({}: {} of {})",
            def.name,
            taken,
            names.len()
        ));
    }
    Ok(out)
}

/// A number given as a JSON string, as the reference's parser reads it: printable ASCII
/// only (it refuses other strings for a number), spaces before it skipped (by
/// `strtoll`) and after it cut (by the parser), then [`Scalar::parse`].
fn string_number(s: &str, scalar: Scalar) -> Option<i128> {
    if !s.bytes().all(|c| (b' '..=b'~').contains(&c)) {
        return None;
    }
    scalar.parse(s.trim_matches(' ')).ok()
}

/// A message table by name (`AccountWeight`, ...).
pub fn message_def(name: &str) -> Option<&'static TableDef> {
    MESSAGE.by_name(name).map(|(_, t)| t)
}

/// The message type an envelope's `message_type` names as the reference reads it: a
/// member's name, several names whose codes OR into a member's code, or that code as a
/// number.
pub fn envelope_message_def(envelope: &Value) -> Option<&'static TableDef> {
    message_type_def(envelope.get("message_type")?)
}

/// The message type a `message_type` value names (see [`envelope_message_def`]).
pub fn message_type_def(message_type: &Value) -> Option<&'static TableDef> {
    match message_type {
        Value::String(s) => message_def(s).or_else(|| MESSAGE.by_code(MESSAGE.ored_code(s)?)),
        Value::Number(n) => MESSAGE.by_code(u8::try_from(n.as_u64()?).ok()?),
        _ => None,
    }
}
