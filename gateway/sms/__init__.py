"""SMS encoding for TinBao: GSM-7 tables, segment planning, PDUs and Vietnamese text helpers.

Submodules are small and import nothing heavy: ``gsm7`` (alphabet and septet packing),
``segments`` (how many SMS a text costs), ``pdu`` (SUBMIT/DELIVER/STATUS-REPORT codec) and
``text`` (NFC, keyword folding, "không dấu").
"""
