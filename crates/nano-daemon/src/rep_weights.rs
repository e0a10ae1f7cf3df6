//! `--compare_rep_weights`: checks the representative weights a ledger file carries
//! against the weights its accounts imply, so an operator can tell whether a downloaded
//! snapshot's `rep_weights` table (the weights the node votes and confirms with) is
//! the sum of its balances.
//!
//! The reference compares the ledger with representative weights hard-coded in its
//! binary (live and beta only; "Not available for the test network" elsewhere). This
//! node bundles no such list, so the comparison side is recomputed from the file's own
//! `accounts` table, on every network. The report keeps the reference's shape: the two
//! totals, the mismatch statistics (samples, total, mean, sigma in Mnano = 10^30 raw),
//! `outliers` (mismatch above the larger of 1,000 Mnano and mean + sigma) and
//! `newcomers` (representatives in the table that no account delegates to), then every
//! differing representative with exact raw amounts, and a non-zero exit status when
//! any differs.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{bail, Result};
use nano_core::{Account, Amount};

use crate::daemon::LedgerAt;
use crate::maintenance::open_existing_read_only;

/// Reference `Mxrb_ratio`: the unit the report's totals are given in.
const MNANO: u128 = 10u128.pow(30);
/// Reference `Gxrb_ratio`: the floor of the outlier threshold.
const GNANO: u128 = 10u128.pow(33);

/// One representative whose weights differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub rep: Account,
    /// Weight implied by the accounts (`None`: no account delegates to it).
    pub recomputed: Option<Amount>,
    pub ledger: Amount,
    pub diff: u128,
}

/// The comparison of two weight tables.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub recomputed_total: u128,
    pub ledger_total: u128,
    /// One per recomputed representative (the reference's samples), largest first.
    pub samples: Vec<Mismatch>,
    /// Representatives only in the ledger table, heaviest first.
    pub newcomers: Vec<Mismatch>,
}

impl Comparison {
    pub fn of(recomputed: &BTreeMap<Account, Amount>, ledger: &BTreeMap<Account, Amount>) -> Self {
        let mut samples: Vec<Mismatch> = recomputed
            .iter()
            .map(|(rep, want)| {
                let have = ledger.get(rep).copied().unwrap_or(Amount::ZERO);
                Mismatch {
                    rep: *rep,
                    recomputed: Some(*want),
                    ledger: have,
                    diff: want.0.abs_diff(have.0),
                }
            })
            .collect();
        samples.sort_by(|a, b| b.diff.cmp(&a.diff).then(a.rep.cmp(&b.rep)));
        let mut newcomers: Vec<Mismatch> = ledger
            .iter()
            .filter(|(rep, w)| !recomputed.contains_key(rep) && !w.is_zero())
            .map(|(rep, w)| Mismatch {
                rep: *rep,
                recomputed: None,
                ledger: *w,
                diff: w.0,
            })
            .collect();
        newcomers.sort_by(|a, b| b.diff.cmp(&a.diff).then(a.rep.cmp(&b.rep)));
        let total =
            |m: &BTreeMap<Account, Amount>| m.values().fold(0u128, |s, w| s.saturating_add(w.0));
        Comparison {
            recomputed_total: total(recomputed),
            ledger_total: total(ledger),
            samples,
            newcomers,
        }
    }

    fn mismatch_total(&self) -> u128 {
        self.samples
            .iter()
            .fold(0u128, |s, m| s.saturating_add(m.diff))
    }

    fn mean(&self) -> u128 {
        self.mismatch_total() / (self.samples.len().max(1) as u128)
    }

    /// Standard deviation of the mismatches (a display figure: f64 is exact enough).
    fn sigma(&self) -> u128 {
        if self.samples.is_empty() {
            return 0;
        }
        let mean = self.mean() as f64;
        let var = self
            .samples
            .iter()
            .map(|m| (m.diff as f64 - mean).powi(2))
            .sum::<f64>()
            / self.samples.len() as f64;
        var.sqrt() as u128
    }

    /// Every representative whose weights differ.
    pub fn differing(&self) -> impl Iterator<Item = &Mismatch> {
        self.samples
            .iter()
            .filter(|m| m.diff > 0)
            .chain(self.newcomers.iter())
    }

    pub fn write(&self, accounts: u64, blocks: u64, out: &mut dyn Write) -> std::io::Result<()> {
        let mean = self.mean();
        writeln!(
            out,
            "recomputed weight {} Mnano from {accounts} accounts",
            mnano(self.recomputed_total)
        )?;
        writeln!(
            out,
            "ledger weight {} Mnano at {blocks} blocks",
            mnano(self.ledger_total)
        )?;
        writeln!(out, "mismatched")?;
        writeln!(out, "\tsamples {}", self.samples.len())?;
        writeln!(out, "\ttotal {} Mnano", mnano(self.mismatch_total()))?;
        writeln!(out, "\tmean {} Mnano", mnano(mean))?;
        writeln!(out, "\tsigma {} Mnano", mnano(self.sigma()))?;
        let outlier = GNANO.max(mean.saturating_add(self.sigma()));
        let outliers: Vec<&Mismatch> = self.samples.iter().filter(|m| m.diff > outlier).collect();
        if !outliers.is_empty() {
            writeln!(out, "outliers")?;
            for m in outliers {
                writeln!(out, "\t{}", entry(m, true))?;
            }
        }
        let newcomer = GNANO.max(mean);
        let big: Vec<&Mismatch> = self
            .newcomers
            .iter()
            .filter(|m| m.diff > newcomer)
            .collect();
        if !big.is_empty() {
            writeln!(out, "newcomers")?;
            for m in big {
                writeln!(out, "\t{}", entry(m, true))?;
            }
        }
        let differing: Vec<&Mismatch> = self.differing().collect();
        writeln!(
            out,
            "Compared {} representatives: {} differ",
            self.samples.len() + self.newcomers.len(),
            differing.len()
        )?;
        for m in differing {
            writeln!(out, "\t{}", entry(m, false))?;
        }
        Ok(())
    }
}

/// Whole Mnano with thousands grouped, as the reference prints balances.
fn mnano(raw: u128) -> String {
    let digits = (raw / MNANO).to_string();
    let mut s = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    s
}

fn entry(m: &Mismatch, in_mnano: bool) -> String {
    let fmt = |v: u128| {
        if in_mnano {
            format!("{} Mnano", mnano(v))
        } else {
            format!("{v} raw")
        }
    };
    format!(
        "representative {} recomputed {} ledger {} mismatch {}",
        m.rep.encode_account(),
        m.recomputed.map_or_else(|| "---".to_string(), |w| fmt(w.0)),
        fmt(m.ledger.0),
        fmt(m.diff)
    )
}

/// `--compare_rep_weights` on the ledger of `at`.
pub fn compare_rep_weights(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open_existing_read_only(at, &at.path())?;
    let t = l.read_txn()?;
    let s = l.store();
    // One entry per representative (thousands on the live network), not per account.
    let mut recomputed: BTreeMap<Account, Amount> = BTreeMap::new();
    let mut accounts = 0u64;
    for r in s.accounts_from(&t, &Account::ZERO)? {
        let (_, info) = r?;
        accounts += 1;
        if !info.balance.is_zero() {
            let w = recomputed.entry(info.representative).or_default();
            *w = Amount(w.0.saturating_add(info.balance.0));
        }
    }
    let ledger: BTreeMap<Account, Amount> = s.iter_rep_weights(&t)?.collect::<Result<_, _>>()?;
    let c = Comparison::of(&recomputed, &ledger);
    c.write(accounts, l.block_count(&t)?, out)?;
    let n = c.differing().count();
    if n > 0 {
        out.flush()?;
        bail!("the ledger's rep_weights table differs from its accounts for {n} representatives");
    }
    Ok(())
}
