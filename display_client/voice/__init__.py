"""The default voice pack (zh-CN/) and the script that generates it (make_pack.py)."""
