"""Fault suite: the whole system on real processes, one injected fault per test, and the stock
accounting checked afterwards (see test_faults.py)."""
