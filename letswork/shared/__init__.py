"""Pure protocol core: no sockets, no files, no clocks of its own."""
