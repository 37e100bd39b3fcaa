"""Finance: the chart of accounts and the double-entry ledger (journal entries, reversals, trial balance)."""
