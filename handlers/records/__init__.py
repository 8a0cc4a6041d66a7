"""The run table: typed records and the named operations handlers read and write them with."""
