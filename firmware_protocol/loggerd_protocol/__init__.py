"""The reference logger's wire protocol, and device profiles: register maps as data, the pure
codecs built from them (Modbus, ASCII, registers), and the TOML loader every file reader of
loggerd uses (toml_document). Import the module you need: the package face loads nothing, so a
process that only reads TOML loads no codec."""
