//! FlatBuffers encoding of IPC 2.0 envelopes (IPC encoding 3), driven by the schema
//! description in [`super::schema`] instead of generated code: the `flatbuffers` crate's
//! builder writes tables slot by slot, its verifier checks every offset, vtable, string and
//! union of an incoming buffer before anything is read, and only then are fields read
//! through `Table`. A buffer that fails verification is an error value, never a panic.

use flatbuffers::{
    FlatBufferBuilder, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifier,
    VerifierOptions, WIPOffset,
};
use serde_json::{Map, Value};

use super::schema::{Field, Kind, TableDef, ENVELOPE};

/// Verifies `buf` as an `Envelope` and returns it as a canonical JSON object.
pub fn decode_envelope(buf: &[u8]) -> Result<Map<String, Value>, String> {
    let opts = VerifierOptions {
        max_depth: 16,
        max_tables: 10_000,
        ..Default::default()
    };
    let mut v = Verifier::new(&opts, buf);
    let root =
        v.get_uoffset(0)
            .map_err(|e| format!("Envelope buffer did not pass verifier: {e}"))? as usize;
    verify_table(&mut v, root, &ENVELOPE)
        .map_err(|e| format!("Envelope buffer did not pass verifier: {e}"))?;
    // SAFETY: the verifier above checked every field `decode_table` follows.
    Ok(unsafe { decode_table(buf, root, &ENVELOPE) })
}

/// Builds a finished buffer from a canonical envelope object (see [`super::schema::normalize`]).
pub fn encode_envelope(env: &Map<String, Value>) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(256);
    let root = encode_table(&mut fbb, &ENVELOPE, env);
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

fn verify_table(v: &mut Verifier, pos: usize, def: &TableDef) -> Result<(), InvalidFlatbuffer> {
    let mut tv = v.visit_table(pos)?;
    for field in def.fields {
        let (name, slot, req) = (field.name, field.slot(), field.required);
        tv = match field.kind {
            Kind::Str => tv.visit_field::<ForwardsUOffset<&str>>(name, slot, req)?,
            Kind::Bool(_) => tv.visit_field::<bool>(name, slot, req)?,
            Kind::U64 => tv.visit_field::<u64>(name, slot, req)?,
            Kind::I32 => tv.visit_field::<i32>(name, slot, req)?,
            Kind::Enum(..) => tv.visit_field::<i8>(name, slot, req)?,
            Kind::StrVec => {
                tv.visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<&str>>>>(name, slot, req)?
            }
            Kind::Table(sub) => {
                if let Some(p) = tv.deref(slot)? {
                    let off = tv.verifier().get_uoffset(p)? as usize;
                    verify_table(tv.verifier(), p.saturating_add(off), sub)?;
                } else if req {
                    return InvalidFlatbuffer::new_missing_required(name);
                }
                tv
            }
            Kind::Union(u) => {
                let type_pos = tv.deref(field.type_slot())?;
                let val_pos = tv.deref(slot)?;
                match (type_pos, val_pos) {
                    (Some(tp), Some(vp)) => {
                        let code = tv.verifier().get_u8(tp)?;
                        let Some(member) = u.by_code(code) else {
                            return InvalidFlatbuffer::new_inconsistent_union(
                                format!("{name}_type"),
                                name,
                            );
                        };
                        let off = tv.verifier().get_uoffset(vp)? as usize;
                        verify_table(tv.verifier(), vp.saturating_add(off), member)?;
                    }
                    (None, None) if req => return InvalidFlatbuffer::new_missing_required(name),
                    (None, None) => {}
                    // A type byte of NONE without a value is just an absent union.
                    (Some(tp), None) if tv.verifier().get_u8(tp)? == 0 => {}
                    _ => {
                        return InvalidFlatbuffer::new_inconsistent_union(
                            format!("{name}_type"),
                            name,
                        )
                    }
                }
                tv
            }
        };
    }
    tv.finish();
    Ok(())
}

/// Reads a verified table into a canonical JSON object.
///
/// # Safety
/// `loc` must be a table of type `def` in `buf` that passed [`verify_table`].
unsafe fn decode_table(buf: &[u8], loc: usize, def: &TableDef) -> Map<String, Value> {
    let t = Table::new(buf, loc);
    let mut out = Map::new();
    for field in def.fields {
        let slot = field.slot();
        let name = field.name;
        match field.kind {
            Kind::Str => {
                if let Some(s) = t.get::<ForwardsUOffset<&str>>(slot, None) {
                    out.insert(name.into(), Value::String(s.into()));
                }
            }
            Kind::Bool(_) => {
                if let Some(b) = t.get::<bool>(slot, None) {
                    out.insert(name.into(), Value::Bool(b));
                }
            }
            Kind::U64 => {
                if let Some(n) = t.get::<u64>(slot, None) {
                    out.insert(name.into(), Value::from(n));
                }
            }
            Kind::I32 => {
                if let Some(n) = t.get::<i32>(slot, None) {
                    out.insert(name.into(), Value::from(n));
                }
            }
            Kind::Enum(names, _) => {
                if let Some(n) = t.get::<i8>(slot, None) {
                    let v = usize::try_from(n)
                        .ok()
                        .and_then(|i| names.get(i))
                        .map(|s| Value::String((*s).into()))
                        .unwrap_or_else(|| Value::from(n));
                    out.insert(name.into(), v);
                }
            }
            Kind::StrVec => {
                if let Some(vec) =
                    t.get::<ForwardsUOffset<Vector<ForwardsUOffset<&str>>>>(slot, None)
                {
                    let items = vec.iter().map(|s| Value::String(s.into())).collect();
                    out.insert(name.into(), Value::Array(items));
                }
            }
            Kind::Table(sub) => {
                if let Some(st) = t.get::<ForwardsUOffset<Table>>(slot, None) {
                    out.insert(name.into(), Value::Object(decode_table(buf, st.loc(), sub)));
                }
            }
            Kind::Union(u) => {
                let code = t.get::<u8>(field.type_slot(), Some(0)).unwrap_or(0);
                if let (Some(member), Some(st)) =
                    (u.by_code(code), t.get::<ForwardsUOffset<Table>>(slot, None))
                {
                    out.insert(format!("{name}_type"), Value::String(member.name.into()));
                    out.insert(
                        name.into(),
                        Value::Object(decode_table(buf, st.loc(), member)),
                    );
                }
            }
        }
    }
    out
}

/// What a field needs written before its table starts (flatbuffers builds children first).
enum Pre {
    None,
    Off(WIPOffset<flatbuffers::UnionWIPOffset>),
}

fn encode_table<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    def: &TableDef,
    obj: &Map<String, Value>,
) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
    // Children first: strings, vectors, sub-tables, union members.
    let pre: Vec<Pre> = def
        .fields
        .iter()
        .map(|field| child(fbb, field, obj))
        .collect();
    let start = fbb.start_table();
    for (field, pre) in def.fields.iter().zip(pre) {
        let slot = field.slot();
        if let Pre::Off(off) = pre {
            if let Kind::Union(u) = field.kind {
                let code = obj
                    .get(&format!("{}_type", field.name))
                    .and_then(Value::as_str)
                    .and_then(|n| u.by_name(n))
                    .map(|(c, _)| c)
                    .unwrap_or(0);
                fbb.push_slot_always::<u8>(field.type_slot(), code);
            }
            fbb.push_slot_always(slot, off);
            continue;
        }
        let Some(val) = obj.get(field.name) else {
            continue;
        };
        match field.kind {
            Kind::Bool(d) => {
                if let Some(b) = val.as_bool() {
                    fbb.push_slot::<bool>(slot, b, d);
                }
            }
            Kind::U64 => {
                if let Some(n) = val.as_u64() {
                    fbb.push_slot::<u64>(slot, n, 0);
                }
            }
            Kind::I32 => {
                if let Some(n) = val.as_i64().and_then(|n| i32::try_from(n).ok()) {
                    fbb.push_slot::<i32>(slot, n, 0);
                }
            }
            Kind::Enum(names, d) => {
                let n = match val {
                    Value::String(s) => names.iter().position(|x| x == s).map(|i| i as i8),
                    _ => val.as_i64().and_then(|n| i8::try_from(n).ok()),
                };
                if let Some(n) = n {
                    fbb.push_slot::<i8>(slot, n, d);
                }
            }
            _ => {}
        }
    }
    fbb.end_table(start)
}

fn child<'a>(fbb: &mut FlatBufferBuilder<'a>, field: &Field, obj: &Map<String, Value>) -> Pre {
    let Some(val) = obj.get(field.name) else {
        return Pre::None;
    };
    match field.kind {
        Kind::Str => match val.as_str() {
            Some(s) => Pre::Off(fbb.create_string(s).as_union_value()),
            None => Pre::None,
        },
        Kind::StrVec => match val.as_array() {
            Some(items) => {
                let offs: Vec<_> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| fbb.create_string(s))
                    .collect();
                Pre::Off(fbb.create_vector(&offs).as_union_value())
            }
            None => Pre::None,
        },
        Kind::Table(sub) => match val.as_object() {
            Some(o) => Pre::Off(encode_table(fbb, sub, o).as_union_value()),
            None => Pre::None,
        },
        Kind::Union(u) => {
            let member = obj
                .get(&format!("{}_type", field.name))
                .and_then(Value::as_str)
                .and_then(|n| u.by_name(n));
            match (member, val.as_object()) {
                (Some((_, t)), Some(o)) => Pre::Off(encode_table(fbb, t, o).as_union_value()),
                _ => Pre::None,
            }
        }
        _ => Pre::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_v2::schema::normalize;
    use serde_json::json;

    #[test]
    fn round_trip_nested() {
        let env = json!({
            "time": 123u64,
            "correlation_id": "c1",
            "message_type": "EventConfirmation",
            "message": {
                "confirmation_type": "inactive",
                "account": "nano_x",
                "block_type": "BlockState",
                "block": {"hash": "AB", "subtype": "send"},
                "election_info": {"duration": 5u64, "tally": "7"}
            }
        });
        let n = normalize(&ENVELOPE, &env).unwrap();
        let buf = encode_envelope(&n);
        assert_eq!(decode_envelope(&buf).unwrap(), n);

        let env = json!({"message_type": "TopicConfirmation",
            "message": {"options": {"accounts": ["a", "b"], "include_block": false}}});
        let n = normalize(&ENVELOPE, &env).unwrap();
        assert_eq!(decode_envelope(&encode_envelope(&n)).unwrap(), n);
    }

    #[test]
    fn corrupt_buffers_are_errors() {
        let env = json!({"message_type": "AccountWeight", "message": {"account": "nano_1"}});
        let buf = encode_envelope(&normalize(&ENVELOPE, &env).unwrap());
        for cut in 0..buf.len() {
            let _ = decode_envelope(&buf[..cut]);
        }
        for i in 0..buf.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut m = buf.clone();
                m[i] = b;
                let _ = decode_envelope(&m);
            }
        }
        assert!(decode_envelope(b"").is_err());
        assert!(decode_envelope(&[0xff; 64]).is_err());
    }
}
