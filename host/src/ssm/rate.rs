//! Rate control as Run Command has it: `--max-concurrency` and
//! `--max-errors`, each a count or a percentage of the targets.

/// A count, or a percentage of the number of targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(usize),
    Percent(u32),
}

impl Amount {
    /// Parses `10` or `25%`.
    pub fn parse(flag: &str, text: &str) -> Result<Amount, String> {
        let text = text.trim();
        let bad =
            || format!("{flag} {text:?}: give a number such as 10 or a percentage such as 25%");
        match text.strip_suffix('%') {
            Some(percent) => {
                let percent: u32 = percent.trim().parse().map_err(|_| bad())?;
                if percent > 100 {
                    return Err(bad());
                }
                Ok(Amount::Percent(percent))
            }
            None => text.parse().map(Amount::Count).map_err(|_| bad()),
        }
    }

    /// How many targets may run at once: a percentage rounds up, and at
    /// least one runs.
    pub fn concurrency(self, targets: usize) -> usize {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (targets * p as usize).div_ceil(100),
        }
        .clamp(1, targets.max(1))
    }

    /// How many failures are tolerated: new targets stop starting once
    /// more than this many have failed (a percentage rounds down).
    pub fn error_threshold(self, targets: usize) -> usize {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => targets * p as usize / 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_counts_or_percentages() {
        assert_eq!(
            Amount::parse("--max-concurrency", "3")
                .unwrap()
                .concurrency(10),
            3
        );
        assert_eq!(
            Amount::parse("--max-concurrency", "25%")
                .unwrap()
                .concurrency(10),
            3
        );
        assert_eq!(
            Amount::parse("--max-concurrency", "0")
                .unwrap()
                .concurrency(10),
            1
        );
        assert_eq!(
            Amount::parse("--max-concurrency", "50")
                .unwrap()
                .concurrency(4),
            4
        );
        assert_eq!(
            Amount::parse("--max-errors", "25%")
                .unwrap()
                .error_threshold(10),
            2
        );
        assert_eq!(
            Amount::parse("--max-errors", "1")
                .unwrap()
                .error_threshold(10),
            1
        );
        assert!(Amount::parse("--max-errors", "x").is_err());
        assert!(Amount::parse("--max-errors", "150%").is_err());
    }
}
