"""The Modbus master: frames on a line, RTU timing, strict reply matching."""
