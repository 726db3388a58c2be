# launcher.sh is sourced by drillbit.sh and cluster.sh: what both need to
# build and run a launcher of dev/ (a JVM in the background with a pid file).
#
#   java_build NAME PROJECT WHAT     build it with Maven and javac
#   launcher_pid PIDFILE CLASS       print the pid when that process is alive
#                                    and runs CLASS (else return 1)
#   launcher_stop NAME PID           SIGTERM, wait up to 60 s, then SIGKILL
#   launcher_die NAME MESSAGE...     print "NAME: MESSAGE" and exit 1
#   usage                            print the calling script's header, exit 2
#
# NAME prefixes the messages (drillbit, cluster); PROJECT is dev/<x>, with
# pom.xml, src/main/java and src/main/resources, built into PROJECT/target;
# WHAT names the jars Maven fetches the first time, for the message.
#
# The classpath comes from `mvn dependency:build-classpath` (offline first, so
# it is quick when ~/.m2 has the jars; dev/drillbit/settings.xml sends every
# repository to Maven Central), the classes from javac together with
# dev/common (what the launchers share). Each step is skipped when its output
# is newer than its inputs. Test binaries of several packages may build at
# the same time: a lock file serializes them.
java_build() {
  local name=$1 project=$2 what=$3
  local root; root=$(cd "$project/../.." && pwd)
  local target=$project/target common=$root/dev/common/src/main/java
  local cp=$target/classpath.txt classes=$target/classes stamp=$target/classes/.stamp
  local mvnlog=$target/mvn.log settings=$root/dev/drillbit/settings.xml
  mkdir -p "$target"
  exec 9>"$target/.build.lock"
  flock 9
  if [ ! -s "$cp" ] || [ "$project/pom.xml" -nt "$cp" ] || [ "$settings" -nt "$cp" ]; then
    command -v mvn >/dev/null || { printf '%s: mvn not found: run '\''bash scripts/setup.sh'\'' (or apt-get install maven)\n' "$name" >&2; exit 1; }
    local args=(-q -B -s "$settings" -f "$project/pom.xml"
      dependency:build-classpath "-Dmdep.outputFile=$cp.tmp")
    if ! mvn -o "${args[@]}" >"$mvnlog" 2>&1; then
      printf '%s: downloading %s from Maven Central (once)\n' "$name" "$what" >&2
      if ! mvn "${args[@]}" >"$mvnlog" 2>&1; then
        tail -n 40 "$mvnlog" >&2
        printf '%s: maven could not resolve the dependencies (log above, full log %s)\n' "$name" "$mvnlog" >&2
        exit 1
      fi
    fi
    mv "$cp.tmp" "$cp"
  fi
  local newest
  newest=$(find "$project/src" "$common" "$cp" -type f -newer "$stamp" 2>/dev/null | head -n 1 || true)
  if [ ! -f "$stamp" ] || [ -n "$newest" ]; then
    command -v javac >/dev/null || { printf '%s: javac not found: a JDK 17 is needed (apt-get install openjdk-17-jdk-headless)\n' "$name" >&2; exit 1; }
    rm -rf "$classes"
    mkdir -p "$classes"
    # -sourcepath keeps javac from compiling the .java files that some jars
    # (Drill's) carry next to their classes.
    if ! javac -nowarn -encoding UTF-8 --release 17 -implicit:none \
        -sourcepath "$project/src/main/java:$common" -cp "$(cat "$cp")" -d "$classes" \
        $(find "$project/src/main/java" "$common" -name '*.java') >"$target/javac.log" 2>&1; then
      cat "$target/javac.log" >&2
      printf '%s: compiling the launcher failed\n' "$name" >&2
      exit 1
    fi
    cp -R "$project/src/main/resources/." "$classes/"
    touch "$stamp"
  fi
  flock -u 9
  exec 9>&-
}

# launcher_pid prints the pid from PIDFILE when that process is alive and is
# the launcher of CLASS (a stale pid file or a reused pid is not ours).
launcher_pid() {
  local pidfile=$1 class=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  case $pid in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$class" || return 1
  printf '%s\n' "$pid"
}

# launcher_stop sends SIGTERM to PID and waits until it has exited; after
# 60 s it kills it.
launcher_stop() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  printf '%s: pid %s did not stop within 60s; killing it\n' "$name" "$pid" >&2
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}

launcher_die() {
  local name=$1; shift
  printf '%s: %s\n' "$name" "$*" >&2
  exit 1
}

# usage prints the comment block at the top of the script that sourced this
# file (from its second line to `set -euo`) and exits 2.
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}
