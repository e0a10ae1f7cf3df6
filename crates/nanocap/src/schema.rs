//! The SQLite schema: every table, its columns and types, and the indices, declared once so
//! that `CREATE TABLE`, the writer's `INSERT` statements and the documentation agree. The
//! reference tool's tables and columns are kept (same names, same meaning); columns and
//! tables for what the protocol gained since 2020 are added after them.

/// One table: name and `(column, declaration)` pairs. The first column is always `id`.
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
}

macro_rules! tables {
    ($( $variant:ident => $name:literal { $( $col:literal : $decl:literal ),* $(,)? } )*) => {
        /// Tables the writer inserts into (the `runs` table is managed separately).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Table { $( $variant ),* }

        /// Definitions, in [`Table`] order.
        pub const TABLES: &[TableDef] = &[
            $( TableDef { name: $name, columns: &[ $( ($col, $decl) ),* ] } ),*
        ];

        impl Table {
            /// Every table, in definition order.
            pub const ALL: &'static [Table] = &[ $( Table::$variant ),* ];
        }
    };
}

tables! {
    Packet => "packet" {
        "id": "INTEGER PRIMARY KEY",
        "flow_key": "INTEGER NOT NULL",
        "ipv": "INTEGER NOT NULL",
        "msg_type": "INTEGER NOT NULL",
        "version_using": "INTEGER",
        "version_min": "INTEGER",
        "block_type": "INTEGER",
        "extensions": "INTEGER",
        "content_table": "TEXT",
        "content_id": "INTEGER",
        "srcip": "TEXT",
        "srcport": "INTEGER",
        "dstip": "TEXT",
        "dstport": "INTEGER",
        "time": "TIMESTAMP",
        "time_usec": "INTEGER DEFAULT 0",
        "version_max": "INTEGER",
        "network": "TEXT",
        "msg_name": "TEXT",
        "protocol": "TEXT",
        "channel": "TEXT",
        "size": "INTEGER",
    }
    ConnectionEvent => "connection_event" {
        "id": "INTEGER PRIMARY KEY",
        "ipv": "INTEGER NOT NULL",
        "srcip": "TEXT NOT NULL",
        "srcport": "INTEGER NOT NULL",
        "dstip": "TEXT NOT NULL",
        "dstport": "INTEGER NOT NULL",
        "flowkey": "INTEGER NOT NULL",
        "event": "TEXT NOT NULL",
        "time": "TIMESTAMP",
        "time_usec": "INTEGER DEFAULT 0",
        "channel": "TEXT",
        "packet_id": "INTEGER",
    }
    KeepaliveHost => "keepalive_host" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "address": "TEXT",
        "port": "INTEGER",
        "time": "TIMESTAMP",
        "slot": "INTEGER",
    }
    Vote => "vote" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "content_table": "TEXT",
        "content_id": "INTEGER",
        "vote_count": "INTEGER DEFAULT 0",
        "vbh": "INTEGER",
        "account": "TEXT",
        "signature": "TEXT",
        "sequence": "INTEGER",
        "hashes": "TEXT",
        "timestamp": "INTEGER",
        "duration": "INTEGER",
        "is_final": "INTEGER",
        "rebroadcast": "INTEGER",
    }
    ConfirmReqPair => "confirm_req_pair" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "root": "TEXT",
    }
    BlockState => "block_state" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "account": "TEXT",
        "previous": "TEXT",
        "representative": "TEXT",
        "balance": "TEXT",
        "link": "TEXT",
        "signature": "TEXT",
        "work": "INTEGER",
    }
    BlockSend => "block_send" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "previous": "TEXT",
        "destination": "TEXT",
        "balance": "TEXT",
        "signature": "TEXT",
        "work": "INTEGER",
    }
    BlockReceive => "block_receive" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "previous": "TEXT",
        "source": "TEXT",
        "signature": "TEXT",
        "work": "INTEGER",
    }
    BlockOpen => "block_open" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "source": "TEXT",
        "representative": "TEXT",
        "account": "TEXT",
        "signature": "TEXT",
        "work": "INTEGER",
    }
    BlockChange => "block_change" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "previous": "TEXT",
        "representative": "TEXT",
        "signature": "TEXT",
        "work": "INTEGER",
    }
    NodeidQuery => "nodeid_query" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "cookie": "TEXT",
    }
    NodeidResponse => "nodeid_response" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "nodeid": "TEXT",
        "nodeid_as_account": "TEXT",
        "signature": "TEXT",
        "salt": "TEXT",
        "genesis": "TEXT",
        "v2": "INTEGER",
    }
    Telemetry => "telemetry" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "signature": "TEXT",
        "nodeid": "TEXT",
        "nodeid_as_account": "TEXT",
        "blockcount": "INTEGER",
        "cementedcount": "INTEGER",
        "uncheckedcount": "INTEGER",
        "accountcount": "INTEGER",
        "bandwidthcap": "INTEGER",
        "uptime": "INTEGER",
        "peercount": "INTEGER",
        "protocolversion": "INTEGER",
        "genesisblock": "TEXT",
        "majorversion": "INTEGER",
        "minorversion": "INTEGER",
        "patchversion": "INTEGER",
        "prereleaseversion": "INTEGER",
        "maker": "INTEGER",
        "timestamp": "INTEGER",
        "activedifficulty": "INTEGER",
        "unknown_data": "TEXT",
    }
    FrontierRequest => "frontier_request" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "start": "TEXT",
        "age": "INTEGER",
        "count": "INTEGER",
        "only_confirmed": "INTEGER",
    }
    FrontierResponse => "frontier_response" {
        "id": "INTEGER PRIMARY KEY",
        "frontier_request_id": "INTEGER NOT NULL",
        "account": "TEXT",
        "frontier_hash": "TEXT",
    }
    BulkPullRequest => "bulk_pull_request" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "start": "TEXT",
        "end": "TEXT",
        "extended_count": "INTEGER DEFAULT 0",
        "ascending": "INTEGER",
    }
    BulkPullResponse => "bulk_pull_response" {
        "id": "INTEGER PRIMARY KEY",
        "bulk_pull_request_id": "INTEGER NOT NULL",
        "content_id": "INTEGER",
        "content_table": "TEXT",
    }
    BulkPullAccountRequest => "bulk_pull_account_request" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER",
        "account": "TEXT",
        "minimum_amount": "TEXT",
        "flags": "INTEGER DEFAULT 0",
    }
    BulkPullAccountResponse => "bulk_pull_account_response" {
        "id": "INTEGER PRIMARY KEY",
        "bulk_pull_account_request_id": "INTEGER NOT NULL",
        "frontier_hash": "TEXT",
        "balance": "TEXT",
    }
    BulkPullAccountResponseEntry => "bulk_pull_account_response_entry" {
        "id": "INTEGER PRIMARY KEY",
        "bulk_pull_account_request_id": "INTEGER NOT NULL",
        "hash": "TEXT",
        "amount": "TEXT",
        "source": "TEXT",
    }
    BulkPushEntry => "bulk_push_entry" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "content_id": "INTEGER",
        "content_table": "TEXT",
    }
    AscPullReq => "asc_pull_req" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "req_type": "TEXT",
        "req_id": "TEXT",
        "start": "TEXT",
        "start_type": "INTEGER",
        "count": "INTEGER",
    }
    AscPullAck => "asc_pull_ack" {
        "id": "INTEGER PRIMARY KEY",
        "packet_id": "INTEGER NOT NULL",
        "req_type": "TEXT",
        "req_id": "TEXT",
        "entry_count": "INTEGER",
    }
    AscPullAckBlock => "asc_pull_ack_block" {
        "id": "INTEGER PRIMARY KEY",
        "asc_pull_ack_id": "INTEGER NOT NULL",
        "content_id": "INTEGER",
        "content_table": "TEXT",
    }
    AscPullAckFrontier => "asc_pull_ack_frontier" {
        "id": "INTEGER PRIMARY KEY",
        "asc_pull_ack_id": "INTEGER NOT NULL",
        "account": "TEXT",
        "frontier_hash": "TEXT",
    }
    AscPullAckAccountInfo => "asc_pull_ack_account_info" {
        "id": "INTEGER PRIMARY KEY",
        "asc_pull_ack_id": "INTEGER NOT NULL",
        "account": "TEXT",
        "open": "TEXT",
        "head": "TEXT",
        "block_count": "INTEGER",
        "confirmed_frontier": "TEXT",
        "confirmed_height": "INTEGER",
    }
    DecodeError => "decode_error" {
        "id": "INTEGER PRIMARY KEY",
        "flow_key": "INTEGER",
        "ipv": "INTEGER",
        "srcip": "TEXT",
        "srcport": "INTEGER",
        "dstip": "TEXT",
        "dstport": "INTEGER",
        "time": "TIMESTAMP",
        "time_usec": "INTEGER DEFAULT 0",
        "stage": "TEXT NOT NULL",
        "error": "TEXT NOT NULL",
    }
}

impl Table {
    /// The table definition.
    pub fn def(self) -> &'static TableDef {
        &TABLES[self as usize]
    }

    /// The SQL table name.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

/// The `runs` table: one row per program start or "destroy"; its id scales all other ids.
pub const RUNS_DDL: &str = "CREATE TABLE IF NOT EXISTS runs (\
    id_multiplier INTEGER PRIMARY KEY AUTOINCREMENT, \
    time TIMESTAMP DEFAULT CURRENT_TIMESTAMP, \
    source TEXT, received INTEGER, dropped INTEGER, if_dropped INTEGER)";

/// Indices: the ones the README's example queries need, and the joins the console follows.
/// The reference's `connection` table, as a view: flow events (open, close, stream
/// summaries) are stored in `connection_event`; with `connection_details` the view adds
/// one event per TCP message, derived from its `packet` row (id, time, endpoints, flow,
/// channel and message name are the same values the reference wrote a second time).
/// Deriving instead of copying saves a row and an index entry per message.
pub fn connection_view_sql(connection_details: bool) -> String {
    const COLS: &str = "id, ipv, srcip, srcport, dstip, dstport, flowkey, event, time, \
        time_usec, channel, packet_id";
    let mut sql = format!("CREATE VIEW connection AS SELECT {COLS} FROM connection_event");
    if connection_details {
        sql.push_str(
            " UNION ALL SELECT id, ipv, srcip, srcport, dstip, dstport, flow_key, msg_name, \
             time, time_usec, channel, id FROM packet WHERE protocol = 'tcp'",
        );
    }
    sql
}

pub const INDICES: &[(&str, &str, &str)] = &[
    ("idx_msg_type", "packet", "msg_type"),
    ("idx_packet_flow", "packet", "flow_key"),
    ("idx_packet_srcip", "packet", "srcip"),
    ("idx_connection_flow", "connection_event", "flowkey"),
    ("idx_keepalive_host_addr", "keepalive_host", "address, port"),
    ("idx_vote_account", "vote", "account"),
    ("idx_confirm_req_hash", "confirm_req_pair", "hash"),
    ("idx_block_state_hash", "block_state", "hash"),
    ("idx_block_state_account", "block_state", "account"),
    ("idx_block_send_hash", "block_send", "hash"),
    ("idx_block_receive_hash", "block_receive", "hash"),
    ("idx_block_open_hash", "block_open", "hash"),
    ("idx_block_change_hash", "block_change", "hash"),
    ("idx_telemetry_nodeid", "telemetry", "nodeid"),
    (
        "idx_frontier_response_req",
        "frontier_response",
        "frontier_request_id",
    ),
    (
        "idx_bulk_pull_response_req",
        "bulk_pull_response",
        "bulk_pull_request_id",
    ),
    (
        "idx_bpa_entry_req",
        "bulk_pull_account_response_entry",
        "bulk_pull_account_request_id",
    ),
    ("idx_bulk_push_entry_packet", "bulk_push_entry", "packet_id"),
    ("idx_decode_error_stage", "decode_error", "stage"),
    (
        "idx_asc_pull_ack_block_ack",
        "asc_pull_ack_block",
        "asc_pull_ack_id",
    ),
];

/// `CREATE TABLE` for one table.
pub fn create_table_sql(def: &TableDef) -> String {
    let cols: Vec<String> = def
        .columns
        .iter()
        .map(|(c, d)| format!("\"{c}\" {d}"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        def.name,
        cols.join(", ")
    )
}

/// `INSERT` with one placeholder per column.
pub fn insert_sql(def: &TableDef) -> String {
    insert_sql_rows(def, 1)
}

/// `INSERT` of `rows` rows at once (`VALUES (?1, …), (?n+1, …)`), placeholders numbered
/// row by row.
pub fn insert_sql_rows(def: &TableDef, rows: usize) -> String {
    let cols: Vec<String> = def
        .columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect();
    let n = def.columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=n).map(|i| format!("?{}", r * n + i)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        def.name,
        cols.join(", "),
        tuples.join(", ")
    )
}

/// Index of a column in a table, for building rows by name in tests and tools.
pub fn column_index(table: Table, column: &str) -> Option<usize> {
    table.def().columns.iter().position(|(c, _)| *c == column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_and_defs_line_up() {
        assert_eq!(Table::ALL.len(), TABLES.len());
        assert_eq!(Table::Packet.name(), "packet");
        assert_eq!(Table::DecodeError.name(), "decode_error");
        for t in TABLES {
            assert_eq!(t.columns[0].0, "id");
        }
        assert_eq!(column_index(Table::Packet, "msg_type"), Some(3));
    }
}
