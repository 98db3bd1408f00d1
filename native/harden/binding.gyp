# Process hardening addon (see harden.c). Built via ../binding.gyp.
{
  "targets": [{
    "target_name": "polykey_harden",
    "sources": ["harden.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
