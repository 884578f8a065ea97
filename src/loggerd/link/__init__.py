"""Byte pipes: serial ports and TCP sockets, and the pool that shares one line among its devices."""
