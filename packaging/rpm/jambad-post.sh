# jambad %post ($1: 1 on installation, 2 on upgrade): the unit is enabled on installation but
# started only once a model is configured (jambad refuses to start without one). Upgrades
# restart a running server in %postun.
conf=/etc/jambad/jambad.conf
model_configured() {
  [ -r "$conf" ] && grep -Eq '^[[:space:]]*model[[:space:]]*=[[:space:]]*[^[:space:]#]' "$conf"
}
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
  systemctl --no-reload enable jambad.service >/dev/null 2>&1 || :
  if model_configured; then
    if [ -d /run/systemd/system ]; then systemctl start jambad.service >/dev/null 2>&1 || :; fi
  else
    cat <<'MSG'
jambad: the service is enabled but not started, because no model is configured. Next:
  1. set `model = /path/to/model-dir` in /etc/jambad/jambad.conf (a Hugging Face Jamba
     checkpoint readable by the user jambad, not under /home: see jambad(8));
  2. systemctl start jambad
MSG
  fi
fi
exit 0
