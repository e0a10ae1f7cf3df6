//! The refusals of the reference's JSON envelope reader that this node reproduces with
//! their exact text. The reference reads a JSON envelope with FlatBuffers' text parser
//! (`/api/v2/<Type>` first wraps the body as `{"message_type": "<Type>", "message":
//! <body>}`, with `"credentials": "…", ` and `"correlation_id": "…", ` first when the
//! headers carry them) and answers its first error as `Invalid message format: <line>:
//! <column>: error: <what>`, where the column is counted in bytes from the line's start to
//! just past the token the parser was looking at. Covered here:
//! - an envelope without `message_type`: without a `message` either it parses, and the
//!   node answers `Unknown message type`; with one, the parser looks ahead for the type,
//!   and fails on the token after the message (`expecting: , instead got: }`) or on the
//!   member after it (`missing type field for this union value: message`);
//! - a `message_type` naming no member of the `Message` union: `unknown enum value: <word>`
//!   (the text is read as space-separated words, each of which must be a member);
//! - a message that is not an object at `/api/v2/<Type>` (empty, a string, a number, a
//!   boolean): `expecting: { instead got: <token>`;
//! - a message without one of its type's required fields: `required field is missing:
//!   <field> in <Type>`;
//! - a message before its `message_type` with another member between them: the parser
//!   skips the message to read the type from the next member, and refuses that member
//!   (`missing type field for this union value: message`);
//! - `credentials`, `correlation_id` or a string field of the message given a number, a
//!   boolean, an array or an object: `expecting: string constant instead got: <token>`;
//! - a boolean or integer field of the message (or the envelope's `time`) given
//!   something the parser does not read as that number (a boolean: a byte, 0–255, as a
//!   number or a string, or `true`/`false`): a float, list or object as it is read
//!   (`Cannot assign token starting with '<token>' to value of <type> type.`), a word or
//!   a string starting with a letter for an integer as it is read (`enum values need to
//!   be qualified by an enum type`), anything else (`null` too) when the table is built
//!   (`invalid number: "<text>"`, with `, constant does not fit [<min>; <max>]` for a
//!   number out of range);
//! - a field of the envelope or the message given twice, `message_type` and `message`
//!   too (the message is read by the first type): `field set more than once: <field>`;
//! - `message_type` as a number naming no member, or as several member names whose
//!   codes OR into no member's (the parser reads an enum text as space-separated names
//!   and ORs their values): `illegal type id for: message` (or `invalid number` above a
//!   byte) as the message is read, `Unknown message type` without a message; names that
//!   OR into a member's code are read as that member;
//! - a message written as a list (its fields in declaration order, which the parser
//!   accepts) with more elements than fields (`too many unnamed fields in nested array`)
//!   or fewer (`wrong number of unnamed fields in table vector`);
//! - all of the above for the fields of a table inside the message (`TopicConfirmation`'s
//!   `options`, `EventConfirmation`'s `election_info`), where the parser meets them: its
//!   numbers and required fields are checked at its own end, before the message's next
//!   field; a list of strings given another token (`expecting: [ instead got: <token>`)
//!   or holding one (`expecting: string constant instead got: <token>`). Unknown fields
//!   are skipped at every depth (the reference's `skip_unexpected_fields_in_json`
//!   default; its `unknown field: <name>` comes only with that option off, which this
//!   node does not offer). A union inside the message (`block` with `block_type`) keeps
//!   this node's text.
//!
//! A `null` member is an absent one to the parser (a `null` message too, see
//! [`super::schema::normalize`]).
//!
//! A text that is not valid JSON is walked by [`super::flatc_syntax`]; every other
//! malformed envelope keeps this node's own text (see [`super::schema`]).
//! Headers are written into the wrapped text JSON-escaped (the reference copies them as
//! they are, so a header with a quote breaks its envelope); only the positions of such
//! requests differ.

use serde_json::Value;

use super::scalars::Scalar;
use super::{schema, V2Error, CODE_GENERIC};

/// The answer the reference writes by hand when its parser refuses an envelope (an
/// `Invalid message format: …` error): no time and no correlation id, spaced as it
/// spaces it. `None` for any other error, which it answers in a built envelope.
pub fn parser_answer(e: &V2Error) -> Option<Vec<u8>> {
    if !e.message.starts_with("Invalid message format: ") {
        return None;
    }
    let message = serde_json::to_string(&e.message).ok()?;
    Some(
        format!(
            r#"{{"message_type": "Error", "message": {{"code": {}, "message": {message}}}}}"#,
            e.code
        )
        .into_bytes(),
    )
}

/// `/api/v2/<name>`'s body wrapped as the reference wraps it, and where the body starts.
pub fn wrapped_envelope(
    name: &str,
    credentials: Option<&str>,
    correlation_id: Option<&str>,
    body: &[u8],
) -> (Vec<u8>, usize) {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text = String::from("{");
    if let Some(c) = credentials {
        text += &format!("\"credentials\": {}, ", quoted(c));
    }
    if let Some(c) = correlation_id {
        text += &format!("\"correlation_id\": {}, ", quoted(c));
    }
    text += &format!("\"message_type\": {}, \"message\": ", quoted(name));
    let start = text.len();
    let mut out = text.into_bytes();
    out.extend_from_slice(body);
    out.push(b'}');
    (out, start)
}

/// The reference's refusal of a wrapped `/api/v2/<name>` body that is no JSON object:
/// empty, or a string, number or boolean (`null` and arrays, which its parser takes for
/// "no message" and for a table written as a list, are left to the caller). `None` when
/// the body is something else.
pub fn wrapped_body_refusal(text: &[u8], body_start: usize) -> Option<V2Error> {
    // The type is read before the message: the wrapper's members with any message.
    let head = [&text[..body_start], b"null}"].concat();
    if let Some(e) = members(&head).and_then(|(m, _)| unknown_type(&head, &m)) {
        return Some(e);
    }
    let (start, end) = token(text, body_start)?;
    if end == text.len() {
        // Nothing but blanks: the wrapper's closing brace.
        return Some(refusal_at(text, end, "expecting: { instead got: }"));
    }
    let got = scalar_token_name(&text[start..end])?;
    // A string must be a whole JSON string, the rest of the body only blanks.
    let rest = &text[end..text.len() - 1];
    if !rest
        .iter()
        .all(|c| matches!(c, b' ' | b'\r' | b'\t' | b'\n'))
    {
        return None;
    }
    if got == "string constant" {
        serde_json::from_slice::<String>(&text[start..end]).ok()?;
    }
    Some(refusal_at(
        text,
        end,
        &format!("expecting: {{ instead got: {got}"),
    ))
}

/// How the parser names a string, number or boolean token in its errors (`string
/// constant`, `integer constant`, `float constant`, the word itself); `None` for any
/// other token.
pub(super) fn scalar_token_name(token: &[u8]) -> Option<String> {
    Some(match token.first()? {
        b'"' => "string constant".into(),
        b'-' | b'0'..=b'9' => {
            serde_json::from_slice::<serde_json::Number>(token).ok()?;
            if token.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                "float constant".into()
            } else {
                "integer constant".into()
            }
        }
        _ if matches!(token, b"true" | b"false") => String::from_utf8_lossy(token).into_owned(),
        _ => return None,
    })
}

/// The reference's refusal of a JSON envelope object `env` (parsed from `text`) that it
/// refuses before any message is handled, for the cases this module covers; `None`
/// otherwise.
pub fn envelope_refusal(text: &[u8], env: &Value) -> Option<V2Error> {
    let (m, _) = members(text)?;
    if let Some(e) = unknown_type(text, &m) {
        return Some(e);
    }
    let message = m
        .iter()
        .position(|x| x.key == "message" && &text[x.value.0..x.value.1] != b"null");
    if env.get("message_type").is_some() {
        // A message before its type is skipped to read the type, which must be the very
        // next member; otherwise the parser fails on that member as without a type.
        let typed = m.iter().position(|x| x.key == "message_type")?;
        if let Some(i) = message.filter(|i| *i < typed && m[i + 1].key != "message_type") {
            let (_, colon) = token(text, m[i + 1].key_end)?;
            return Some(refusal_at(
                text,
                colon,
                "missing type field for this union value: message",
            ));
        }
        // The parser reads the message by the first type given (a second one it refuses
        // once read, see [`field_refusal`]).
        let first: Value =
            serde_json::from_slice(&text[m[typed].value.0..m[typed].value.1]).ok()?;
        return type_code_refusal(text, env, &first, message.map(|i| &m[i]));
    }
    let Some(i) = message else {
        return Some(V2Error::new(CODE_GENERIC, "Unknown message type"));
    };
    Some(match m.get(i + 1) {
        // The parser skips the message to find the type after it, and expects a comma.
        None => {
            let (_, end) = token(text, m[i].value.1)?;
            refusal_at(text, end, "expecting: , instead got: }")
        }
        // It reads the next member's name and colon, which is not the type.
        Some(next) => {
            let (_, colon) = token(text, next.key_end)?;
            refusal_at(
                text,
                colon,
                "missing type field for this union value: message",
            )
        }
    })
}

/// `message_type` given as a number naming no member of the union, or as names (each a
/// member) whose ORed codes name none (0, `NONE`, excepted:
/// the reference cannot answer it). With a message, the parser refuses the type as it
/// starts reading the message (`illegal type id for: message`, or `invalid number` above
/// a byte); without one it reads, and no handler takes the type (`Unknown message type`).
/// Only when the envelope's other members read (they come first or do not matter).
fn type_code_refusal(
    text: &[u8],
    env: &Value,
    message_type: &Value,
    message: Option<&Member>,
) -> Option<V2Error> {
    let code = match message_type {
        Value::String(names) => schema::MESSAGE.ored_code(names).map(u64::from),
        v => v.as_u64(),
    }
    .filter(|c| *c > 0)?;
    if u8::try_from(code).is_ok_and(|c| schema::MESSAGE.by_code(c).is_some()) {
        return None;
    }
    let plain = |key: &str, ok: fn(&Value) -> bool| env.get(key).is_none_or(ok);
    if !(plain("credentials", |v| v.is_string() || v.is_null())
        && plain("correlation_id", |v| v.is_string() || v.is_null())
        && plain("time", |v| v.is_u64()))
    {
        return None;
    }
    let Some(message) = message else {
        return (code <= u64::from(u8::MAX))
            .then(|| V2Error::new(CODE_GENERIC, "Unknown message type"));
    };
    let (_, end) = token(text, message.value.0)?;
    Some(refusal_at(
        text,
        end,
        &if code <= u64::from(u8::MAX) {
            "illegal type id for: message".to_string()
        } else {
            format!("invalid number: \"{code}\", constant does not fit [0; 255]")
        },
    ))
}

/// The reference's refusal of a JSON envelope object `env` read from `text`, for the
/// cases this module covers; `None` when it would go on (or refuse otherwise).
pub fn refusal(text: &[u8], env: &Value) -> Option<V2Error> {
    envelope_refusal(text, env).or_else(|| field_refusal(text, env))
}

/// The first refusal the parser meets in the fields of an envelope whose type it knows,
/// in text order (where it stops reading):
/// - `credentials`, `correlation_id` or a string field of the message given a number, a
///   boolean, an array or an object (`null` is an absent field): `expecting: string
///   constant instead got: <token>`, just past that token;
/// - a boolean or integer field of the message, or the envelope's `time`, given what the
///   parser does not take as that number ([`scalar_value`]): as it is read, or when the
///   table is built (the message: just past the token after it; the envelope: at the
///   end of the text);
/// - a field (of the schema; unknown members are skipped) of the envelope or of the
///   message set a second time: `field set more than once: <field>`, just past the token
///   after the second value;
/// - a required field missing from the message: `required field is missing: <field> in
///   <Type>`, checked at the message's end, just past the token after it.
///
/// - `message_type` or `message` given a second time (not `null`): the same, the
///   message read by the first type (a second message after its own refusals).
///
/// - the same inside a table the message holds (`TopicConfirmation`'s `options`,
///   `EventConfirmation`'s `election_info`), checked where the parser reads it
///   ([`table_refusals`]); a list of strings given another token (`expecting: [ instead
///   got: <token>`) or holding one (`expecting: string constant instead got: <token>`).
///
/// Only when nothing else is wrong with the envelope (with those fields given as it
/// takes them it reads); an enum field given twice, a union member inside the message
/// (`block`), a later `message_type` with a word naming no member, and a second message
/// that is no table keep this node's text (the parser reads them on terms of their own).
fn field_refusal(text: &[u8], env: &Value) -> Option<V2Error> {
    let (m, _) = members(text)?;
    // The parser reads the message by the first type given, and refuses a second one.
    let types: Vec<Value> = m
        .iter()
        .filter(|x| x.key == "message_type")
        .map(|x| serde_json::from_slice(&text[x.value.0..x.value.1]).ok())
        .collect::<Option<_>>()?;
    let def = schema::message_type_def(types.first()?)?;
    // A later type with a word naming no member is refused as it is read, on terms
    // not walked here.
    if !types
        .iter()
        .all(|t| t.is_number() || schema::message_type_def(t).is_some())
    {
        return None;
    }
    let not_a_string =
        |(start, end): (usize, usize)| text[start] != b'"' && &text[start..end] != b"null";
    let mut given = env.clone();
    given["message_type"] = types[0].clone();
    // (just past the token where the parser stops, what it says)
    let mut errors: Vec<(usize, String)> = Vec::new();
    // A refusal of the envelope's `time` when the envelope is built, after its end.
    let mut envelope_at_build: Option<String> = None;
    for (i, x) in m.iter().enumerate() {
        // A second message is refused once read whole: after its own refusals.
        let mut message_twice = None;
        if m[..i].iter().any(|y| y.key == x.key) {
            let field = schema::ENVELOPE.fields.iter().find(|f| f.name == x.key);
            match field.map(|f| f.kind) {
                // The union's type or message given a second time: refused as any field
                // once read (the message is read by the first type). A `null` keeps
                // this node's text (the type is a scalar to the parser, the message not).
                _ if x.key == "message_type" || x.key == "message" => {
                    let null = |y: &Member| &text[y.value.0..y.value.1] == b"null";
                    if null(x) || m[..i].iter().any(|y| y.key == x.key && null(y)) {
                        return None;
                    }
                    let (_, end) = token(text, x.value.1)?;
                    let e = (end, format!("field set more than once: {}", x.key));
                    if x.key == "message" {
                        message_twice = Some(e);
                    } else {
                        errors.push(e);
                    }
                }
                Some(schema::Kind::Union(_)) => return None,
                Some(kind) => {
                    if let Some(e) = set_twice(text, &m[..i], x, kind)? {
                        errors.push(e);
                    }
                }
                // Not in the schema: skipped, as often as it comes.
                None => {}
            }
        }
        if matches!(x.key.as_str(), "credentials" | "correlation_id") && not_a_string(x.value) {
            errors.push(expecting(text, x.value.0, "string constant")?);
            given[x.key.as_str()] = Value::String(String::new());
        }
        if x.key == "time" {
            match scalar_value(&text[x.value.0..x.value.1], Scalar::U64)? {
                ScalarValue::Taken => {}
                ScalarValue::Refused(what) => {
                    errors.push((token(text, x.value.0)?.1, what));
                    given["time"] = Value::from(0u64);
                }
                ScalarValue::RefusedAtBuild(what) => {
                    envelope_at_build = Some(what);
                    given["time"] = Value::from(0u64);
                }
            }
        }
        if x.key != "message" {
            continue;
        }
        match text[x.value.0] {
            b'{' | b'[' => {}
            _ if message_twice.is_some() => return None,
            _ => continue,
        }
        given["message"] = Value::Object(table_refusals(text, def, x.value, &mut errors)?);
        errors.extend(message_twice);
    }
    if let Some(what) = envelope_at_build {
        // Past the envelope's closing brace is the end of the text.
        errors.push((text.len(), what));
    }
    let (end, what) = errors.into_iter().min_by_key(|e| e.0)?;
    super::Request::from_json_value(&given).ok()?;
    Some(refusal_at(text, end, &what))
}

/// Where the parser stops (just past the token it was looking at) and what it says.
type Refusal = (usize, String);

/// The parser's refusals inside a table of type `def` whose value (an object, or a list
/// of its fields) lies at `span` in `text`, pushed to `errors` in the order the parser
/// meets them (one at the same place as a later one comes first), and the table as this
/// node then reads it: a refused value stands as an absent or zero one, so the rest
/// reads. A field holding a table is walked the same way, where the parser reads it
/// (its required fields and built numbers are checked at its own end, before the fields
/// after it); a list of strings checks each element.
///
/// `None` where this node's reading differs from the parser's without a refusal to
/// reproduce, or the parser refuses on terms not walked here: an enum field given twice,
/// two numbers refused when one table is built (the builder's order), a `null` for a
/// scalar in a list, a union field's member (its refusals keep this node's text).
fn table_refusals(
    text: &[u8],
    def: &schema::TableDef,
    span: (usize, usize),
    errors: &mut Vec<Refusal>,
) -> Option<serde_json::Map<String, Value>> {
    let field_of = |name: &str| def.fields.iter().find(|f| f.name == name);
    // The fields as (name, where its value lies, its `field set more than once`
    // refusal); a list stops where the parser refuses its length.
    let mut fields: Vec<(String, (usize, usize), Option<Refusal>)> = Vec::new();
    let mut count_refused = false;
    let mut held = serde_json::Map::new();
    match text[span.0] {
        b'{' => {
            let (inner, _) = members_from(text, span.0)?;
            for (j, y) in inner.iter().enumerate() {
                let mut twice = None;
                if let Some(f) =
                    field_of(&y.key).filter(|_| inner[..j].iter().any(|z| z.key == y.key))
                {
                    // Enums have refusals of their own not walked here.
                    if matches!(f.kind, schema::Kind::Enum(..) | schema::Kind::Union(_)) {
                        return None;
                    }
                    twice = set_twice(text, &inner[..j], y, f.kind)?;
                }
                fields.push((y.key.clone(), y.value, twice));
            }
            // The table as the parser holds it: of a field given twice, the value that
            // set it last (a null that sets nothing does not replace it).
            for (name, (start, end), _) in &fields {
                let value: Value = serde_json::from_slice(&text[*start..*end]).ok()?;
                let scalar = field_of(name).is_some_and(|f| scalar_of(f.kind).is_some());
                if !value.is_null() || scalar || !held.contains_key(name) {
                    held.insert(name.clone(), value);
                }
            }
        }
        b'[' => {
            let (items, close) = elements_from(text, span.0)?;
            let names = schema::declared_fields(def);
            for &(start, end) in &items {
                let Some((name, scalar)) = names.get(fields.len()) else {
                    // Checked as the element's first token is read.
                    let (_, first) = token(text, start)?;
                    errors.push((first, "too many unnamed fields in nested array".into()));
                    count_refused = true;
                    break;
                };
                if &text[start..end] == b"null" {
                    if *scalar {
                        return None;
                    }
                    continue;
                }
                fields.push((name.clone(), (start, end), None));
            }
            if !count_refused && fields.len() != names.len() {
                // Checked once the closing bracket is passed and the next token read.
                let (_, after) = token(text, close + 1)?;
                errors.push((
                    after,
                    "wrong number of unnamed fields in table vector".into(),
                ));
                count_refused = true;
            }
            for (name, (start, end), _) in &fields {
                held.insert(
                    name.clone(),
                    serde_json::from_slice(&text[*start..*end]).ok()?,
                );
            }
        }
        _ => return None,
    }
    let not_a_string =
        |(start, end): (usize, usize)| text[start] != b'"' && &text[start..end] != b"null";
    // Scalar values the parser takes now and checks as numbers when it builds the
    // table, after the required fields.
    let mut at_build: Vec<String> = Vec::new();
    for (name, value, twice) in &fields {
        let v = &text[value.0..value.1];
        match field_of(name).map(|f| f.kind) {
            Some(schema::Kind::Str) if not_a_string(*value) => {
                errors.push(expecting(text, value.0, "string constant")?);
                held.insert(name.clone(), Value::String(String::new()));
            }
            Some(kind @ (schema::Kind::Bool(_) | schema::Kind::U64 | schema::Kind::I32)) => {
                let scalar = scalar_of(kind)?;
                // What stands in for a refused value, so the rest of the table reads.
                let zero = match scalar {
                    Scalar::Bool => Value::Bool(false),
                    Scalar::U64 | Scalar::I32 | Scalar::I8 => Value::from(0u64),
                };
                match scalar_value(v, scalar)? {
                    ScalarValue::Taken => {}
                    ScalarValue::Refused(what) => {
                        errors.push((token(text, value.0)?.1, what));
                        held.insert(name.clone(), zero);
                    }
                    ScalarValue::RefusedAtBuild(what) => {
                        at_build.push(what);
                        held.insert(name.clone(), zero);
                    }
                }
            }
            // Refused enum and table values stand as absent ones.
            Some(schema::Kind::Enum(names, _)) => match enum_value(v, names)? {
                ScalarValue::Taken => {}
                ScalarValue::Refused(what) => {
                    errors.push((token(text, value.0)?.1, what));
                    held.remove(name);
                }
                ScalarValue::RefusedAtBuild(what) => {
                    at_build.push(what);
                    held.remove(name);
                }
            },
            Some(schema::Kind::Table(t)) if v != b"null" => {
                // A table expects its opening brace (a list is a table too).
                if matches!(v[0], b'{' | b'[') {
                    let inner = table_refusals(text, t, *value, errors)?;
                    // Of a table given twice, the last that sets it is held.
                    let last = fields
                        .iter()
                        .rev()
                        .find(|f| &f.0 == name && &text[f.1 .0..f.1 .1] != b"null")?;
                    if *value == last.1 {
                        held.insert(name.clone(), Value::Object(inner));
                    }
                } else {
                    errors.push(expecting(text, value.0, "{")?);
                    held.remove(name);
                }
            }
            Some(schema::Kind::StrVec) if v != b"null" => {
                // A list expects its opening bracket, then a string for each element.
                let refused = if v[0] == b'[' {
                    let (items, _) = elements_from(text, value.0)?;
                    items
                        .iter()
                        .find(|(start, _)| text[*start] != b'"')
                        .map(|(start, _)| expecting(text, *start, "string constant"))
                } else {
                    Some(expecting(text, value.0, "["))
                };
                if let Some(e) = refused {
                    errors.push(e?);
                    held.remove(name);
                }
            }
            _ => {}
        }
        // Checked once the value is read.
        errors.extend(twice.clone());
    }
    let missing: Vec<&schema::Field> = def
        .fields
        .iter()
        .filter(|f| f.required && held.get(f.name).is_none_or(Value::is_null))
        .collect();
    if let Some(first) = missing.first().filter(|_| !count_refused) {
        // The table's end, and the token the parser reads after it.
        let (_, end) = token(text, span.1)?;
        errors.push((
            end,
            format!("required field is missing: {} in {}", first.name, def.name),
        ));
    }
    // Every required field of the schema is a string: given, the table reads.
    for f in missing {
        if !matches!(f.kind, schema::Kind::Str) {
            return None;
        }
        held.insert(f.name.into(), Value::String(String::new()));
    }
    // The order of two such checks is the builder's; one is answered.
    match at_build.len() {
        0 => {}
        1 if !count_refused => {
            let (_, end) = token(text, span.1)?;
            errors.push((end, at_build.remove(0)));
        }
        _ => return None,
    }
    Some(held)
}

/// `expecting: <what> instead got: <token>`, just past the token starting at `start`
/// (as the parser names it: a punctuation character, `string constant`, `integer
/// constant`, `float constant` or the word itself).
fn expecting(text: &[u8], start: usize, what: &str) -> Option<(usize, String)> {
    let (_, end) = token(text, start)?;
    let got = match text[start] {
        b'[' => "[".to_string(),
        b'{' => "{".to_string(),
        _ if &text[start..end] == b"null" => "null".to_string(),
        _ => scalar_token_name(&text[start..end])?,
    };
    Some((end, format!("expecting: {what} instead got: {got}")))
}

/// `x`, a member of a table whose members before it are `before`, naming a field of
/// `kind` that one of them already set: the parser's `field set more than once: <name>`,
/// checked once the value is read, so just past the token after it. `Some(None)` when
/// the parser takes it (a `null` given to a field that holds no scalar sets nothing, so
/// neither occurrence counts then).
fn set_twice(
    text: &[u8],
    before: &[Member],
    x: &Member,
    kind: schema::Kind,
) -> Option<Option<(usize, String)>> {
    let scalar = scalar_of(kind).is_some();
    let sets = |m: &Member| scalar || &text[m.value.0..m.value.1] != b"null";
    if !sets(x) || !before.iter().any(|y| y.key == x.key && sets(y)) {
        return Some(None);
    }
    let (_, end) = token(text, x.value.1)?;
    Some(Some((end, format!("field set more than once: {}", x.key))))
}

/// What the parser makes of a scalar field's value text.
pub(super) enum ScalarValue {
    Taken,
    /// Refused as the value is read, just past its token.
    Refused(String),
    /// Taken as read, refused when the table is built.
    RefusedAtBuild(String),
}

/// The parser's reading of an enum field's (a `byte` under its names') JSON value `v`:
/// words (a string or a bare word starting with a letter) each looked up as read,
/// `unknown enum value: <word>` for the first it lacks; a float, list or object refused
/// as read; a number (or a string of one) checked against the byte's range when the
/// table is built, and `null` refused then. `None` where this node's reading differs
/// from the parser's without a refusal to reproduce (several names, which the parser
/// ORs together; a number naming no value, which it keeps), and for a string it refuses
/// on other terms.
fn enum_value(v: &[u8], names: &[&str]) -> Option<ScalarValue> {
    let word_start = |w: &[u8]| {
        w.first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    };
    let words = |text: &[u8]| -> Option<ScalarValue> {
        let text = std::str::from_utf8(text).ok()?;
        if let Some(unknown) = text.split(' ').find(|w| !names.contains(w)) {
            return Some(ScalarValue::Refused(format!(
                "unknown enum value: {unknown}"
            )));
        }
        // One name is this node's reading too; several are ORed by the parser.
        (text.split(' ').count() == 1).then_some(ScalarValue::Taken)
    };
    let inner = match v.first()? {
        b'"' => &v[1..v.len() - 1],
        _ => v,
    };
    if inner != b"null" && word_start(inner) {
        if v[0] == b'"'
            && inner
                .iter()
                .any(|&c| c == b'\\' || !(b' '..=b'~').contains(&c))
        {
            return None;
        }
        return words(inner);
    }
    match scalar_value(v, Scalar::I8)? {
        // A number the parser keeps: this node takes it only when it names a value.
        ScalarValue::Taken => {
            let text = std::str::from_utf8(inner).ok()?.trim_matches(' ');
            let n = Scalar::I8.parse(text).ok()?;
            (0..names.len() as i128)
                .contains(&n)
                .then_some(ScalarValue::Taken)
        }
        other => Some(other),
    }
}

/// The scalar a field of `kind` holds (enums excepted: their names have rules of their
/// own).
fn scalar_of(kind: schema::Kind) -> Option<Scalar> {
    match kind {
        schema::Kind::Bool(_) => Some(Scalar::Bool),
        schema::Kind::U64 => Some(Scalar::U64),
        schema::Kind::I32 => Some(Scalar::I32),
        _ => None,
    }
}

/// The reference parser's reading of a boolean field's JSON value `v` ([`scalar_value`]).
pub(super) fn bool_value(v: &[u8]) -> Option<ScalarValue> {
    scalar_value(v, Scalar::Bool)
}

/// The reference parser's reading of a scalar field's JSON value `v`:
/// - `[` or `{`, or a float for any of them: refused as it is read (`Cannot assign token
///   starting with '<token>' to value of <type> type.`);
/// - a boolean field takes `true` and `false` (as words or strings);
/// - an integer field refuses a word or a string starting with a letter as it is read,
///   as it takes it for enum value names (`enum values need to be qualified by an enum
///   type`), `null` excepted;
/// - everything else is taken as text (a string less its trailing spaces) and turned
///   into a number when the table is built ([`Scalar::parse`]): `null` and any text that
///   is no whole integer give `invalid number: "<text>"`, a number out of the type's range
///   adds `, constant does not fit [<min>; <max>]`.
///
/// A string's escapes are read first: `"1\u0032"` is the text `12`.
///
/// `None` for a string the parser refuses on other terms (bytes outside printable ASCII,
/// as sent or escaped; spaces first) and for enum value names qualified by a type
/// (`Type.value`).
pub(super) fn scalar_value(v: &[u8], scalar: Scalar) -> Option<ScalarValue> {
    let cannot = |what: &str| {
        ScalarValue::Refused(format!(
            "Cannot assign token starting with '{what}' to value of <{}> type.",
            scalar.name()
        ))
    };
    let enum_name = |text: &[u8]| -> Option<ScalarValue> {
        let word = text.split(|&c| c == b' ').next().unwrap_or_default();
        if word.contains(&b'.') {
            return None;
        }
        Some(ScalarValue::Refused(
            "enum values need to be qualified by an enum type".into(),
        ))
    };
    let at_build = |text: &str| match scalar.parse(text) {
        Ok(_) => ScalarValue::Taken,
        Err(what) => ScalarValue::RefusedAtBuild(what),
    };
    let identifier_start =
        |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    Some(match v.first()? {
        b'[' => cannot("["),
        b'{' => cannot("{"),
        b'"' => {
            // The parser reads the string's escapes first (those of JSON, in a text that
            // is valid JSON), and the value from what they stand for.
            let unescaped: String;
            let mut inner = &v[1..v.len() - 1];
            if inner.contains(&b'\\') {
                unescaped = serde_json::from_slice(v).ok()?;
                inner = unescaped.as_bytes();
            }
            if inner.iter().any(|&c| !(b' '..=b'~').contains(&c)) || inner.first() == Some(&b' ') {
                return None;
            }
            // The words are matched before trailing spaces are cut.
            if scalar == Scalar::Bool && (inner == b"true" || inner == b"false") {
                return Some(ScalarValue::Taken);
            }
            if scalar != Scalar::Bool && inner != b"null" && identifier_start(inner.first()) {
                return enum_name(inner);
            }
            at_build(std::str::from_utf8(inner).ok()?.trim_end_matches(' '))
        }
        b'-' | b'0'..=b'9' => match scalar_token_name(v)?.as_str() {
            "float constant" => cannot("float constant"),
            _ => at_build(std::str::from_utf8(v).ok()?),
        },
        _ => match v {
            b"true" | b"false" if scalar == Scalar::Bool => ScalarValue::Taken,
            b"null" => at_build("null"),
            _ if scalar != Scalar::Bool && identifier_start(v.first()) => enum_name(v)?,
            _ => at_build(std::str::from_utf8(v).ok()?),
        },
    })
}

/// `message_type` as a string naming no member of the union: the first such word.
fn unknown_type(text: &[u8], m: &[Member]) -> Option<V2Error> {
    let t = m.iter().find(|x| x.key == "message_type")?;
    let raw = &text[t.value.0..t.value.1];
    // Escapes and bytes outside printable ASCII get another refusal from the parser.
    if raw.first() != Some(&b'"')
        || raw[1..raw.len() - 1]
            .iter()
            .any(|&c| c == b'\\' || !(b' '..=b'~').contains(&c))
    {
        return None;
    }
    let name = std::str::from_utf8(&raw[1..raw.len() - 1]).ok()?;
    let known = |w: &str| w == "NONE" || schema::message_def(w).is_some();
    let word = name.split(' ').find(|w| !known(w))?;
    Some(refusal_at(
        text,
        t.value.1,
        &format!("unknown enum value: {word}"),
    ))
}

/// `Invalid message format: <line>: <column>: error: <what>`, at `end` in `text`.
pub(super) fn refusal_at(text: &[u8], end: usize, what: &str) -> V2Error {
    let before = &text[..end];
    let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    V2Error::format(format!("{line}: {}: error: {what}", end - line_start))
}

/// A member of an object's text at the top level: its key, where the key's string ends
/// and where the value lies.
struct Member {
    key: String,
    key_end: usize,
    value: (usize, usize),
}

/// The top-level members of a JSON object text, and where its closing brace lies; `None`
/// when the text is no well-formed object.
fn members(text: &[u8]) -> Option<(Vec<Member>, usize)> {
    members_from(text, 0)
}

/// Where each element of the JSON array opening at or after `from` in `text` lies, and
/// where its closing bracket lies; `None` when the text is no well-formed array.
fn elements_from(text: &[u8], from: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let (open, mut at) = token(text, from)?;
    if text[open] != b'[' {
        return None;
    }
    let mut out = Vec::new();
    // Each round moves past an element, a comma or the closing bracket.
    loop {
        let (start, end) = token(text, at)?;
        match text[start] {
            b']' => return Some((out, start)),
            b',' => {
                at = end;
                continue;
            }
            _ => {}
        }
        let value_end = value_end(text, start)?;
        out.push((start, value_end));
        at = value_end;
    }
}

/// [`members`] of the object opening at or after `from` in `text`.
fn members_from(text: &[u8], from: usize) -> Option<(Vec<Member>, usize)> {
    let (open, mut at) = token(text, from)?;
    if text[open] != b'{' {
        return None;
    }
    let mut out = Vec::new();
    // Each round reads a member or the closing brace, so the loop ends with the text.
    loop {
        let (start, end) = token(text, at)?;
        match text[start] {
            b'}' => return Some((out, start)),
            b',' => {
                at = end;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key: String = serde_json::from_slice(&text[start..end]).ok()?;
        let (colon, after_colon) = token(text, end)?;
        if text[colon] != b':' {
            return None;
        }
        let (value_start, _) = token(text, after_colon)?;
        let value_end = value_end(text, value_start)?;
        out.push(Member {
            key,
            key_end: end,
            value: (value_start, value_end),
        });
        at = value_end;
    }
}

/// The next token at or after `from`, as the parser splits the text: a punctuation
/// character, a string with its quotes, or a run of other characters (a number or a
/// word). `None` at the end of the text.
pub(super) fn token(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from + text.get(from..)?.iter().position(|c| !is_blank(*c))?;
    let end = match text[start] {
        b'{' | b'}' | b'[' | b']' | b',' | b':' => start + 1,
        b'"' => string_end(text, start)?,
        _ => {
            start
                + text[start..]
                    .iter()
                    .position(|&c| is_blank(c) || b"{}[],:\"".contains(&c))
                    .unwrap_or(text.len() - start)
        }
    };
    Some((start, end))
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\r' | b'\t' | b'\n')
}

/// Just past the closing quote of the string opening at `start`.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while *text.get(i)? != b'"' {
        i += if text[i] == b'\\' { 2 } else { 1 };
    }
    Some(i + 1)
}

/// Just past the JSON value starting at `start`.
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            // Each step moves forward; strings are skipped whole.
            while i < text.len() {
                match text[i] {
                    b'"' => {
                        i = string_end(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => token(text, start).map(|(_, end)| end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_of(e: Option<V2Error>) -> String {
        e.map(|e| e.message).unwrap_or_default()
    }

    fn refused(envelope: &str) -> String {
        let v: Value = serde_json::from_str(envelope).unwrap();
        text_of(envelope_refusal(envelope.as_bytes(), &v))
    }

    #[test]
    fn parser_refusals_answer_in_the_hand_written_shape() {
        let e = V2Error::format("1: 2: error: x".into());
        assert_eq!(
            String::from_utf8(parser_answer(&e).unwrap()).unwrap(),
            r#"{"message_type": "Error", "message": {"code": 1, "message": "Invalid message format: 1: 2: error: x"}}"#
        );
        assert!(parser_answer(&V2Error::new(CODE_GENERIC, "Unknown message type")).is_none());
    }

    #[test]
    fn envelopes_without_a_type() {
        assert_eq!(refused("{}"), "Unknown message type");
        assert_eq!(
            refused(r#"{"credentials": "k", "message": null}"#),
            "Unknown message type"
        );
        assert_eq!(
            refused(r#"{"message": {"account": "x"}}"#),
            "Invalid message format: 1: 29: error: expecting: , instead got: }"
        );
        assert_eq!(
            refused("{\"message\": {\"a\": [1, \"}\"]},\n  \"credentials\" :  \"k\"}"),
            "Invalid message format: 2: 17: error: missing type field for this union value: message"
        );
        assert_eq!(refused(r#"{"message_type": "IsAlive"}"#), "");
    }

    #[test]
    fn unknown_type_names() {
        assert_eq!(
            refused(r#"{"message_type": "NoSuch", "message": {}}"#),
            "Invalid message format: 1: 25: error: unknown enum value: NoSuch"
        );
        assert_eq!(
            refused(r#"{"message": {}, "message_type": "IsAlive Nope"}"#),
            "Invalid message format: 1: 46: error: unknown enum value: Nope"
        );
        assert_eq!(refused(r#"{"message_type": "AccountWeightResponse"}"#), "");
        assert_eq!(refused(r#"{"message_type": "No\u0053uch"}"#), "");
    }

    #[test]
    fn wrapped_bodies_that_are_no_object() {
        let refused = |body: &str, headers: bool| {
            let (k, c) = if headers {
                (Some("key"), Some("c"))
            } else {
                (None, None)
            };
            let (text, start) = wrapped_envelope("AccountWeight", k, c, body.as_bytes());
            text_of(wrapped_body_refusal(&text, start))
        };
        // `{"message_type": "AccountWeight", "message": }`
        assert_eq!(
            refused("", false),
            "Invalid message format: 1: 46: error: expecting: { instead got: }"
        );
        assert_eq!(
            refused(" \n ", false),
            "Invalid message format: 2: 2: error: expecting: { instead got: }"
        );
        // The headers' members come first.
        assert_eq!(
            refused("\"x\"", true),
            "Invalid message format: 1: 93: error: expecting: { instead got: string constant"
        );
        assert_eq!(
            refused("-12", false),
            "Invalid message format: 1: 48: error: expecting: { instead got: integer constant"
        );
        assert_eq!(
            refused("1.5e3 ", false),
            "Invalid message format: 1: 50: error: expecting: { instead got: float constant"
        );
        assert_eq!(
            refused("true", false),
            "Invalid message format: 1: 49: error: expecting: { instead got: true"
        );
        for left in ["null", "[]", "{}", "{\"account\": 1}", "\"x\" 1", "tru"] {
            assert_eq!(refused(left, false), "", "{left}");
        }
        let (text, start) = wrapped_envelope("Nope", None, None, b"");
        assert_eq!(
            text_of(wrapped_body_refusal(&text, start)),
            "Invalid message format: 1: 23: error: unknown enum value: Nope"
        );
    }

    #[test]
    fn missing_required_fields() {
        let env = r#"{"message_type": "AccountWeight", "message": {"x": 1}, "credentials": "k"}"#;
        assert_eq!(
            refused_any(env),
            "Invalid message format: 1: 54: error: required field is missing: account in AccountWeight"
        );
        // A boolean the parser refuses only when it builds the table comes after the
        // required fields; a present field, no refusal.
        let wrong = r#"{"message_type": "ServiceStop", "message": {"restart": "x"}}"#;
        assert_eq!(
            refused_any(wrong),
            "Invalid message format: 1: 60: error: required field is missing: service_name in ServiceStop"
        );
        let fine = r#"{"message_type": "AccountWeight", "message": {"account": "x"}}"#;
        assert_eq!(refused_any(fine), "");
    }

    #[test]
    fn string_fields_given_another_token() {
        let got = |value: &str| {
            refused_any(&format!(
                r#"{{"message_type": "AccountWeight", "message": {{"account": {value}}}}}"#
            ))
        };
        // The column is just past the token: `..."account": ` is 57 bytes.
        for (value, end, name) in [
            ("1", 58, "integer constant"),
            ("-1.5", 61, "float constant"),
            ("true", 61, "true"),
            ("[\"x\"]", 58, "["),
            ("{}", 58, "{"),
        ] {
            assert_eq!(
                got(value),
                format!(
                    "Invalid message format: 1: {end}: error: expecting: string constant instead got: {name}"
                ),
                "{value}"
            );
        }
        // null is an absent field: the required field is missing at the table's end.
        assert_eq!(
            got("null"),
            "Invalid message format: 1: 63: error: required field is missing: account in AccountWeight"
        );
        // The envelope's own strings; the first refusal in the text is the one answered.
        assert_eq!(
            refused_any(r#"{"correlation_id": 7, "message_type": "IsAlive"}"#),
            "Invalid message format: 1: 20: error: expecting: string constant instead got: integer constant"
        );
        assert_eq!(
            refused_any(
                "{\"message_type\": \"AccountWeight\",\n\"message\": {\"account\": \"x\"},\n\"credentials\": false, \"correlation_id\": 1}"
            ),
            "Invalid message format: 3: 20: error: expecting: string constant instead got: false"
        );
        assert_eq!(
            refused_any(
                r#"{"credentials": false, "message_type": "AccountWeight", "message": {}}"#
            ),
            "Invalid message format: 1: 21: error: expecting: string constant instead got: false"
        );
        // A required field missing is found at the message's end, before what follows it.
        assert_eq!(
            refused_any(
                "{\"message_type\": \"AccountWeight\",\n\"message\": {\"x\": false},\n\"credentials\": false}"
            ),
            "Invalid message format: 2: 24: error: required field is missing: account in AccountWeight"
        );
        // The message's end comes first. A member given twice is refused after its
        // second value, so a wrong first value is the refusal. A string where one is
        // expected is no refusal.
        assert_eq!(
            refused_any(
                r#"{"message_type": "ServiceStop", "message": {"restart": "x"}, "credentials": 1}"#
            ),
            "Invalid message format: 1: 60: error: required field is missing: service_name in ServiceStop"
        );
        assert_eq!(
            refused_any(
                r#"{"message_type": "AccountWeight", "message": {"account": 1, "account": "x"}}"#
            ),
            "Invalid message format: 1: 58: error: expecting: string constant instead got: integer constant"
        );
        assert_eq!(
            refused_any(
                r#"{"message_type": "AccountWeight", "message": {"account": "1"}, "credentials": "k"}"#
            ),
            ""
        );
    }

    #[test]
    fn a_message_before_its_type_needs_the_type_next() {
        assert_eq!(
            refused(r#"{"message": {}, "credentials": "k", "message_type": "IsAlive"}"#),
            "Invalid message format: 1: 30: error: missing type field for this union value: message"
        );
        assert_eq!(
            refused(r#"{"message": {}, "message_type": "IsAlive", "credentials": "k"}"#),
            ""
        );
        assert_eq!(
            refused(r#"{"message": null, "credentials": "k", "message_type": "IsAlive"}"#),
            ""
        );
        assert_eq!(
            refused(r#"{"credentials": "k", "message_type": "IsAlive", "message": {}}"#),
            ""
        );
    }

    #[test]
    fn messages_written_as_lists() {
        let listed = |list: &str| {
            refused_any(&format!(
                r#"{{"message_type": "AccountWeight", "message": {list}}}"#
            ))
        };
        // `..."message": ` is 45 bytes: the list opens at column 46.
        assert_eq!(
            listed("[]"),
            "Invalid message format: 1: 48: error: wrong number of unnamed fields in table vector"
        );
        assert_eq!(
            listed(r#"["x", "y"]"#),
            "Invalid message format: 1: 54: error: too many unnamed fields in nested array"
        );
        assert_eq!(
            listed("[1]"),
            "Invalid message format: 1: 47: error: expecting: string constant instead got: integer constant"
        );
        // A null takes no field: the next element is the account.
        assert_eq!(listed(r#"[null, "x"]"#), "");
        let r = crate::api_v2::Request::from_json(
            br#"{"message_type": "AccountWeight", "message": [null, "x"]}"#,
        )
        .unwrap();
        assert_eq!(r.message["account"], "x");
        assert_eq!(r.message.len(), 1);
        // ServiceStop is (service_name, restart): the null is skipped, so `true` is read
        // as the name, and one field is left.
        assert_eq!(
            refused_any(r#"{"message_type": "ServiceStop", "message": [null, true]}"#),
            "Invalid message format: 1: 54: error: expecting: string constant instead got: true"
        );
        let r = crate::api_v2::Request::from_json(
            br#"{"message_type": "ServiceStop", "message": ["n", true]}"#,
        )
        .unwrap();
        assert_eq!(r.message["service_name"], "n");
        assert_eq!(r.message["restart"], true);
        // A table of no fields is an empty list.
        let r = crate::api_v2::Request::from_json(br#"{"message_type": "IsAlive", "message": []}"#)
            .unwrap();
        assert_eq!(r.message_type, "IsAlive");
        assert_eq!(
            refused_any(r#"{"message_type": "IsAlive", "message": [{}]}"#),
            "Invalid message format: 1: 41: error: too many unnamed fields in nested array"
        );
    }

    #[test]
    fn boolean_fields_read_as_bytes() {
        let stop = |v: &str| {
            format!(
                r#"{{"message_type": "ServiceStop", "message": {{"service_name": "a", "restart": {v}}}}}"#
            )
        };
        let parser = |w: &str| format!("Invalid message format: {w}");
        let cases = [
            ("2", String::new()),
            ("\"1\"", String::new()),
            ("\"+1\"", String::new()),
            ("\"TRUE\"", parser("1: 84: error: invalid number: \"TRUE\"")),
            ("\"true \"", parser("1: 85: error: invalid number: \"true\"")),
            ("\"1.5\"", parser("1: 83: error: invalid number: \"1.5\"")),
            ("null", parser("1: 82: error: invalid number: \"null\"")),
            (
                "-1",
                parser("1: 80: error: invalid number: \"-1\", constant does not fit [0; 255]"),
            ),
            (
                "1.5",
                parser("1: 79: error: Cannot assign token starting with 'float constant' to value of <bool> type."),
            ),
            (
                "[]",
                parser("1: 77: error: Cannot assign token starting with '[' to value of <bool> type."),
            ),
        ];
        for (v, want) in cases {
            assert_eq!(refused_any(&stop(v)), want, "{v}");
        }
        // Checked when the message is built: before a member after the message.
        assert_eq!(
            refused_any(
                r#"{"message_type": "ServiceStop", "message": {"restart": "x", "service_name": "a"}, "credentials": 1}"#
            ),
            parser("1: 81: error: invalid number: \"x\"")
        );
        for (v, restart) in [
            ("2", true),
            ("\" 0\"", false),
            ("\"1 \"", true),
            ("\"0x0\"", false),
            ("\"0X1\"", true),
        ] {
            let r = crate::api_v2::Request::from_json(stop(v).as_bytes()).expect(v);
            assert_eq!(r.message["restart"], restart, "{v}");
        }
        // A word is no JSON: the walk of such texts refuses it where the parser does.
        let e = crate::api_v2::Request::from_json(
            br#"{"message_type": "TopicServiceStop", "message": {"unsubscribe": nope, "x": }}"#,
        )
        .unwrap_err();
        assert!(
            e.0.message
                .starts_with("Invalid message format: not valid JSON"),
            "{e:?}"
        );
    }

    #[test]
    fn fields_set_twice() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let cases = [
            // Just past the token after the second value.
            (
                r#"{"message_type": "AccountWeight", "message": {"account": "a", "account": "b"}}"#,
                parser("1: 77: error: field set more than once: account"),
            ),
            (
                r#"{"credentials": "k", "message_type": "IsAlive", "credentials": "j"}"#,
                parser("1: 67: error: field set more than once: credentials"),
            ),
            (
                r#"{"time": 1, "message_type": "IsAlive", "time": 2, "credentials": "k"}"#,
                parser("1: 49: error: field set more than once: time"),
            ),
            // A scalar's null sets it.
            (
                r#"{"message_type": "ServiceStop", "message": {"service_name": "a", "restart": null, "restart": true}}"#,
                parser("1: 98: error: field set more than once: restart"),
            ),
            // A null string sets nothing, and members outside the schema are skipped.
            (
                r#"{"message_type": "AccountWeight", "message": {"account": null, "account": "b"}}"#,
                String::new(),
            ),
            (
                r#"{"message_type": "AccountWeight", "message": {"account": "a", "account": null}}"#,
                String::new(),
            ),
            (
                r#"{"message_type": "AccountWeight", "message": {"account": "a", "x": 1, "x": 2}, "y": 1, "y": 2}"#,
                String::new(),
            ),
            // The union's type too, with or without a message (see
            // `union_members_given_twice`); a table too (see
            // `refusals_inside_a_nested_table`).
            (
                r#"{"message_type": "IsAlive", "message_type": "IsAlive"}"#,
                parser("1: 54: error: field set more than once: message_type"),
            ),
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {}, "options": {}}}"#,
                parser("1: 79: error: field set more than once: options"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refused_any(text), want, "{text}");
        }
    }

    #[test]
    fn integer_fields_read_as_the_parser_reads_them() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let timed = |v: &str| format!(r#"{{"message_type": "IsAlive", "time": {v}}}"#);
        // `{"message_type": "IsAlive", "time": ` is 36 bytes.
        let cases = [
            ("7", String::new()),
            ("\"7\"", String::new()),
            ("\"0x10\"", String::new()),
            ("\"+5 \"", String::new()),
            ("-0", String::new()),
            ("18446744073709551615", String::new()),
            (
                "1.5",
                parser("1: 39: error: Cannot assign token starting with 'float constant' to value of <ulong> type."),
            ),
            ("[1]", parser("1: 37: error: Cannot assign token starting with '[' to value of <ulong> type.")),
            ("\"abc\"", parser("1: 41: error: enum values need to be qualified by an enum type")),
            ("true", parser("1: 40: error: enum values need to be qualified by an enum type")),
            // Refused when the envelope is built: at the end of the text.
            (
                "-1",
                parser("1: 39: error: invalid number: \"-1\", constant does not fit [0; 18446744073709551615]"),
            ),
            (
                "18446744073709551616",
                parser("1: 57: error: invalid number: \"18446744073709551616\", constant does not fit [0; 18446744073709551615]"),
            ),
            ("null", parser("1: 41: error: invalid number: \"null\"")),
            ("\"1e3\"", parser("1: 42: error: invalid number: \"1e3\"")),
            ("\"\"", parser("1: 39: error: invalid number: \"\"")),
        ];
        for (v, want) in cases {
            assert_eq!(refused_any(&timed(v)), want, "{v}");
        }
        // A message's integer, when the message is built: just past the token after it.
        let error = |v: &str| {
            refused_any(&format!(
                r#"{{"message_type": "Error", "message": {{"code": {v}}}}}"#
            ))
        };
        assert_eq!(
            error("2147483648"),
            parser("1: 58: error: invalid number: \"2147483648\", constant does not fit [-2147483648; 2147483647]")
        );
        assert_eq!(error("-2147483648"), "");
        assert_eq!(error("\"-0x10\""), "");
        // What the parser takes, the node takes with the same value.
        for (v, code) in [
            ("\"-0x10\"", -16),
            ("\" +7 \"", 7),
            ("\"0x7fffffff\"", i32::MAX),
        ] {
            let text = format!(r#"{{"message_type": "Error", "message": {{"code": {v}}}}}"#);
            let r = crate::api_v2::Request::from_json(text.as_bytes()).expect(v);
            assert_eq!(r.message["code"], code, "{v}");
        }
        for v in ["\"0x10\"", "\"+5 \"", "\"007\"", "\"  9\""] {
            crate::api_v2::Request::from_json(timed(v).as_bytes()).expect(v);
        }
        // A string with a control character (escaped or not) is no number to it.
        assert!(crate::api_v2::Request::from_json(timed("\"5\\t\"").as_bytes()).is_err());
        // Other escapes are read first, and the value from what they stand for.
        let cases = [
            (r#""1\u0032""#, String::new()),
            (r#""\u0031\u0032""#, String::new()),
            (
                r#""1\u0041""#,
                parser("1: 46: error: invalid number: \"1A\""),
            ),
            (r#""\/5""#, parser("1: 42: error: invalid number: \"/5\"")),
            (r#""5\\""#, parser("1: 42: error: invalid number: \"5\\\"")),
            (
                r#""\u0061b""#,
                parser("1: 45: error: enum values need to be qualified by an enum type"),
            ),
            (r#""\u00e9""#, String::new()),
        ];
        for (v, want) in cases {
            assert_eq!(refused_any(&timed(v)), want, "{v}");
        }
        for v in [r#""1\u0032""#, r#""\u0031\u0032""#] {
            crate::api_v2::Request::from_json(timed(v).as_bytes()).expect(v);
        }
        assert_eq!(
            error("\"0x\""),
            parser("1: 52: error: invalid number: \"0x\"")
        );
        // A refusal as the value is read comes before one when the table is built.
        assert_eq!(
            refused_any(
                r#"{"message_type": "Error", "message": {"code": null, "category": false}}"#
            ),
            parser("1: 69: error: enum values need to be qualified by an enum type")
        );
    }

    #[test]
    fn enum_and_table_fields_given_another_token() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let topic = |v: &str| {
            refused_any(&format!(
                r#"{{"message_type": "TopicConfirmation", "message": {{"options": {v}}}}}"#
            ))
        };
        assert_eq!(
            topic("5"),
            parser("1: 62: error: expecting: { instead got: integer constant")
        );
        assert_eq!(
            topic("\"x\""),
            parser("1: 64: error: expecting: { instead got: string constant")
        );
        assert_eq!(
            topic("true"),
            parser("1: 65: error: expecting: { instead got: true")
        );
        for v in ["null", "{}", "{\"confirmation_type_filter\": \"active\"}"] {
            assert_eq!(topic(v), "", "{v}");
        }
        let event = |v: &str| {
            format!(
                r#"{{"message_type": "EventConfirmation", "message": {{"confirmation_type": {v}}}}}"#
            )
        };
        let cases = [
            ("\"nope\"", parser("1: 77: error: unknown enum value: nope")),
            ("\"active_quorum nope\"", parser("1: 91: error: unknown enum value: nope")),
            ("true", parser("1: 75: error: unknown enum value: true")),
            (
                "1.5",
                parser("1: 74: error: Cannot assign token starting with 'float constant' to value of <byte> type."),
            ),
            ("[1]", parser("1: 72: error: Cannot assign token starting with '[' to value of <byte> type.")),
            // When the message is built: just past the token after it.
            (
                "200",
                parser("1: 76: error: invalid number: \"200\", constant does not fit [-128; 127]"),
            ),
            ("null", parser("1: 77: error: invalid number: \"null\"")),
            (
                "\"-129\"",
                parser("1: 79: error: invalid number: \"-129\", constant does not fit [-128; 127]"),
            ),
            // Taken by both; names ORed together, or a number naming no value, keep this
            // node's text.
            ("\"inactive\"", String::new()),
            ("2", String::new()),
            ("\"active_quorum inactive\"", String::new()),
            ("5", String::new()),
        ];
        for (v, want) in cases {
            assert_eq!(refused_any(&event(v)), want, "{v}");
        }
        // A number, or a string of one, names the value of that index, as in the parser.
        for v in ["2", "\"2\"", "\" 0x2 \"", "\"inactive\""] {
            let r = crate::api_v2::Request::from_json(event(v).as_bytes()).expect(v);
            assert_eq!(r.message["confirmation_type"], "inactive", "{v}");
        }
    }

    #[test]
    fn refusals_inside_a_nested_table() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let topic = |options: &str| {
            format!(
                r#"{{"message_type": "TopicConfirmation", "message": {{"options": {options}}}}}"#
            )
        };
        // `...{"options": ` is 61 bytes: the nested table opens at column 62.
        let cases = [
            (
                topic(r#"{"confirmation_type_filter": "nope"}"#),
                parser("1: 96: error: unknown enum value: nope"),
            ),
            (
                topic(r#"{"all_local_accounts": 1.5}"#),
                parser("1: 87: error: Cannot assign token starting with 'float constant' to value of <bool> type."),
            ),
            (
                topic(r#"{"accounts": "x"}"#),
                parser("1: 77: error: expecting: [ instead got: string constant"),
            ),
            (
                topic(r#"{"accounts": {}}"#),
                parser("1: 75: error: expecting: [ instead got: {"),
            ),
            (
                topic(r#"{"accounts": [1]}"#),
                parser("1: 76: error: expecting: string constant instead got: integer constant"),
            ),
            (
                topic(r#"{"accounts": ["a", {"b": 1}]}"#),
                parser("1: 81: error: expecting: string constant instead got: {"),
            ),
            (
                topic(r#"{"accounts": [null]}"#),
                parser("1: 79: error: expecting: string constant instead got: null"),
            ),
            // Numbers are checked when the nested table is built: at its end, before
            // the fields after it.
            (
                topic(r#"{"include_block": 300}"#),
                parser("1: 84: error: invalid number: \"300\", constant does not fit [0; 255]"),
            ),
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {"include_block": "x"}, "unsubscribe": [1]}}"#.into(),
                parser("1: 84: error: invalid number: \"x\""),
            ),
            // The first refusal in text order: the nested table's before the message's.
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {"accounts": 1}, "unsubscribe": 1.5}}"#.into(),
                parser("1: 75: error: expecting: [ instead got: integer constant"),
            ),
            (
                topic(r#"{"all_local_accounts": true, "all_local_accounts": false}"#),
                parser("1: 118: error: field set more than once: all_local_accounts"),
            ),
            // The nested table given twice: each read whole, then refused.
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {"include_block": "x"}, "options": {}}}"#.into(),
                parser("1: 84: error: invalid number: \"x\""),
            ),
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {}, "options": {"accounts": 1}}}"#.into(),
                parser("1: 90: error: expecting: [ instead got: integer constant"),
            ),
            (
                r#"{"message_type": "TopicConfirmation", "message": {"options": {}, "options": {}}}"#.into(),
                parser("1: 79: error: field set more than once: options"),
            ),
            // A nested table written as a list of its five fields.
            (
                topic(r#"["all", true]"#),
                parser("1: 75: error: wrong number of unnamed fields in table vector"),
            ),
            // Lines are counted across the nesting.
            (
                "{\"message_type\": \"TopicConfirmation\",\n \"message\": {\"options\":\n  {\"accounts\": [\n\"a\", false]}}}".into(),
                parser("4: 10: error: expecting: string constant instead got: false"),
            ),
            // ElectionInfo inside EventConfirmation.
            (
                r#"{"message_type": "EventConfirmation", "message": {"election_info": {"duration": "abc"}}}"#.into(),
                parser("1: 85: error: enum values need to be qualified by an enum type"),
            ),
            (
                r#"{"message_type": "EventConfirmation", "message": {"election_info": {"time": -1}}}"#.into(),
                parser("1: 80: error: invalid number: \"-1\", constant does not fit [0; 18446744073709551615]"),
            ),
            (
                r#"{"message_type": "EventConfirmation", "message": {"election_info": {"tally": 5}}}"#.into(),
                parser("1: 78: error: expecting: string constant instead got: integer constant"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refused_any(&text), want, "{text}");
        }
        // Taken by both, with the values the parser reads: unknown fields (skipped at any
        // depth), numbers as strings, a list of the five fields, a `null` list.
        let taken = [
            (
                topic(r#"{"nope": {"deep": [1, {}]}, "include_block": "0", "accounts": ["a"]}"#),
                json!({"options": {"include_block": false, "accounts": ["a"]}}),
            ),
            (
                topic(r#"["active", 1, ["b", "c"], false, "1"]"#),
                json!({"options": {"confirmation_type_filter": "active", "all_local_accounts": true,
                    "accounts": ["b", "c"], "include_block": false, "include_election_info": true}}),
            ),
            (
                topic(r#"{"accounts": null, "confirmation_type_filter": 4}"#),
                json!({"options": {"confirmation_type_filter": "inactive"}}),
            ),
        ];
        for (text, want) in taken {
            assert_eq!(refused_any(&text), "", "{text}");
            let r = crate::api_v2::Request::from_json(text.as_bytes()).expect(&text);
            assert_eq!(Value::Object(r.message), want, "{text}");
        }
    }

    #[test]
    fn type_codes_naming_no_message() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let cases = [
            (
                r#"{"message_type": 99, "message": {}}"#,
                parser("1: 33: error: illegal type id for: message"),
            ),
            (
                r#"{"message_type": 99, "message": "x"}"#,
                parser("1: 35: error: illegal type id for: message"),
            ),
            (
                r#"{"message": {"a": 1}, "message_type": 99}"#,
                parser("1: 13: error: illegal type id for: message"),
            ),
            (
                r#"{"message_type": 256, "message": {}}"#,
                parser("1: 34: error: invalid number: \"256\", constant does not fit [0; 255]"),
            ),
            // Without a message the envelope reads; no handler takes the type.
            (
                r#"{"message_type": 99, "message": null}"#,
                "Unknown message type".into(),
            ),
            (r#"{"message_type": 99}"#, "Unknown message type".into()),
            // A member's code is that member; 0 and a wrong member before keep this
            // node's text.
            (
                r#"{"message_type": 6, "message": {"account": "x"}}"#,
                String::new(),
            ),
            (r#"{"message_type": 0, "message": {}}"#, String::new()),
            (
                r#"{"credentials": 1, "message_type": 99, "message": {}}"#,
                String::new(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refused(text), want, "{text}");
        }
    }

    #[test]
    fn type_names_ored_together() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        // TopicServiceStop (12) | IsAlive (3) = 15: no member.
        let cases = [
            (
                r#"{"message_type": "TopicServiceStop IsAlive", "message": {}}"#,
                parser("1: 57: error: illegal type id for: message"),
            ),
            (
                r#"{"message": {}, "message_type": "TopicServiceStop IsAlive"}"#,
                parser("1: 13: error: illegal type id for: message"),
            ),
            (
                r#"{"message_type": "TopicServiceStop IsAlive"}"#,
                "Unknown message type".into(),
            ),
            // A word naming no member is refused as it is read, before any OR.
            (
                r#"{"message_type": "IsAlive Nope", "message": {}}"#,
                parser("1: 31: error: unknown enum value: Nope"),
            ),
            // IsAlive (3) | AccountWeight (6) = 7: AccountWeightResponse, whose required
            // field the message lacks.
            (
                r#"{"message_type": "IsAlive AccountWeight", "message": {"account": "x"}}"#,
                parser("1: 70: error: required field is missing: voting_weight in AccountWeightResponse"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refused_any(text), want, "{text}");
        }
        // Error (1) | Success (2) = IsAlive (3); NONE adds nothing.
        for text in [
            r#"{"message_type": "Error Success"}"#,
            r#"{"message_type": "Success NONE IsAlive", "message": {}}"#,
        ] {
            let r = crate::api_v2::Request::from_json(text.as_bytes()).expect(text);
            assert_eq!(r.message_type, "IsAlive", "{text}");
        }
    }

    #[test]
    fn union_members_given_twice() {
        let parser = |w: &str| format!("Invalid message format: {w}");
        let twice = |what: &str, at: usize| {
            parser(&format!("1: {at}: error: field set more than once: {what}"))
        };
        let cases = [
            // Just past the token after the second value.
            (
                r#"{"message_type": "IsAlive", "message_type": "AccountWeight", "message": {}}"#,
                twice("message_type", 60),
            ),
            (
                r#"{"message": {}, "message_type": "IsAlive", "message_type": "IsAlive"}"#,
                twice("message_type", 69),
            ),
            // The message is read by the first type; a later one naming no member is
            // refused only once read.
            (
                r#"{"message_type": "IsAlive", "message": {}, "message_type": 99}"#,
                twice("message_type", 62),
            ),
            (
                r#"{"message_type": "IsAlive", "message": {}, "message": {}}"#,
                twice("message", 57),
            ),
            // The second message's own refusal first, at the same place.
            (
                r#"{"message_type": "AccountWeight", "message": {"account": "x"}, "message": {}}"#,
                parser("1: 77: error: required field is missing: account in AccountWeight"),
            ),
            // A `null` keeps this node's text.
            (
                r#"{"message_type": "IsAlive", "message": {}, "message": null}"#,
                String::new(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refused_any(text), want, "{text}");
        }
    }

    #[test]
    fn a_null_message_is_an_absent_one() {
        for text in [
            r#"{"message_type": "IsAlive", "message": null}"#,
            r#"{"message_type": "IsAlive"}"#,
        ] {
            let r = crate::api_v2::Request::from_json(text.as_bytes()).expect(text);
            assert_eq!(r.message_type, "IsAlive");
            assert!(r.message.is_empty());
        }
    }

    fn refused_any(envelope: &str) -> String {
        let v: Value = serde_json::from_str(envelope).unwrap();
        text_of(refusal(envelope.as_bytes(), &v))
    }
}
