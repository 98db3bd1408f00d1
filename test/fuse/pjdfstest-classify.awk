# Sorts pjdfstest failures (TAP from test/fuse/pjdfstest.sh) by the refusal that caused them.
# A failure on a name whose creation was refused (a folder, fifo, device, socket or symlink in a
# repository) counts with that refusal: pjdfstest goes on using the name. What no refusal
# explains is printed as OTHER, with the line.
function category(op, cmd, other) {
  if (op == "mkfifo") return "fifos"
  if (op == "mknod") return "devices (mknod)"
  if (op == "bind" || op == "connect") return "sockets"
  if (op == "symlink" || op == "readlink" || op == "lchmod") return "symlinks"
  if (op == "mkdir" || op == "rmdir") return "folders inside a repository"
  if (other) return "other users (the mount is private to its user)"
  if ((op == "chown" || op == "lchown") && cmd !~ / 0 0$/) return "chown to another user"
  if (op == "link") return "hardlinks inside a repository (tags are the only links)"
  return ""
}
/^# / { file = $2; delete made; refused = ""; next }
/^ln: failed to create symbolic link/ { nm = $0; sub(/^[^']*'/, "", nm); sub(/'.*/, "", nm); made[nm] = "symlinks"; refused = "symlinks"; next }
/^not ok/ {
  line = $0; cat = ""
  if (line !~ / - tried /) cat = "unnamed checks after a refusal"
  else {
    cmd = line; sub(/.* - tried '/, "", cmd); sub(/', expected.*/, "", cmd)
    n = split(cmd, w, " "); i = 1; other = 0
    while (w[i] ~ /^-[ug]$/ || w[i] == "--") { if (w[i] != "--") { other = 1; i += 2 } else i++ }
    op = w[i]
    cat = category(op, cmd, other)
    # a name made by a refused creation: later failures on it follow from that
    if (other && op ~ /^(open|create|chmod|write|truncate|link|rename)$/) made[w[i + 1]] = "other users (the mount is private to its user)"
    if (cat != "" && refused == "" && cat != "other users (the mount is private to its user)") refused = cat
    if (cat != "" && op ~ /^(mkdir|mkfifo|mknod|bind|symlink|link)$/) { made[(op == "symlink") ? w[i + 2] : w[i + 1]] = cat; if (op == "link") made[w[i + 2]] = cat }
    if (cat == "" || op !~ /^(mkdir|mkfifo|mknod|bind|symlink)$/)
      for (j = i + 1; j <= n; j++) { nm = w[j]; while (nm != "") { if (nm in made) { cat = made[nm]; break } if (sub(/\/[^\/]*$/, "", nm) == 0) break } if (cat != "" && (nm in made)) break }
    if (cat == "" && cmd ~ /[^ ]\/[^ ]/) cat = "folders inside a repository"
    if (cat == "" && line ~ /got EFBIG/) cat = "files over 1 GiB (EFBIG)"
    if (cat == "" && line ~ /_ns', expected/) cat = "sub-millisecond timestamps"
    # a check in a test whose setup was refused (pjdfstest made the name outside expect)
    if (cat == "" && refused != "") cat = refused
    if (cat == "") cat = "OTHER"
  }
  count[cat]++
  if (cat == "OTHER") print "OTHER " file ": " line
}
END { for (c in count) printf "%6d  %s\n", count[c], c }
