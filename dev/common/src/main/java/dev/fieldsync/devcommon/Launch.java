package dev.fieldsync.devcommon;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Launch holds what the launchers of dev/ (the Drillbit of dev/drillbit, the
 * ZooKeeper + HDFS of dev/cluster) share: stopping with the process that
 * owns them, free ports on 127.0.0.1, the resident memory for the start-up
 * line, and command-line values. scripts/drillbit.sh and scripts/cluster.sh
 * compile it with each launcher.
 */
public final class Launch {
  private Launch() {}

  /** UsageException is a wrong command line; its message says what is wrong. */
  public static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** UsageException reports msg to the person who typed the command. */
    public UsageException(String msg) {
      super(msg);
    }
  }

  /**
   * exitOnStdinEof stops the JVM (and so, through the shutdown hooks, what
   * it runs) once standard input is closed: the parent that holds the other
   * end of the pipe has exited, however it exited. It prints
   * {@code <marker>_STDIN_EOF stopping} first.
   */
  public static void exitOnStdinEof(String marker) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[256];
      try {
        while (System.in.read(buf) >= 0) {
          // Input is ignored; only its end matters.
        }
      } catch (IOException e) {
        // A broken stdin means the parent is gone as well.
      }
      System.out.println(marker + "_STDIN_EOF stopping");
      System.exit(0);
    }, "fieldsync-stdin-watch");
    t.setDaemon(true);
    t.start();
  }

  /**
   * exitWithPid stops the JVM once process pid has exited (checked every
   * second), printing {@code <marker>_OWNER_EXITED pid=P stopping} first.
   */
  public static void exitWithPid(long pid, String marker) {
    Thread t = new Thread(() -> {
      while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        try {
          TimeUnit.SECONDS.sleep(1);
        } catch (InterruptedException e) {
          return;
        }
      }
      System.out.println(marker + "_OWNER_EXITED pid=" + pid + " stopping");
      System.exit(0);
    }, "fieldsync-owner-watch");
    t.setDaemon(true);
    t.start();
  }

  /**
   * freePort finds a port p on 127.0.0.1 such that p..p+count-1 are all free
   * right now. Whoever binds them later hunts for another if one is taken.
   */
  public static int freePort(int count) throws IOException {
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    for (int attempt = 0; attempt < 50; attempt++) {
      int p;
      try (ServerSocket s = new ServerSocket(0, 1, lo)) {
        p = s.getLocalPort();
      }
      if (p + count > 65535) {
        continue;
      }
      boolean ok = true;
      for (int i = 1; i < count && ok; i++) {
        ok = isFree(lo, p + i);
      }
      if (ok) {
        return p;
      }
    }
    throw new IOException("no " + count + " consecutive free ports on 127.0.0.1");
  }

  private static boolean isFree(InetAddress lo, int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(lo, port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** rssMB returns this process's resident memory in MB, or -1 off Linux. */
  public static long rssMB() {
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) >> 10;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // Not Linux: report -1.
    }
    return -1;
  }

  /**
   * parse runs parser over args; on a UsageException it prints
   * {@code <name>: <message>} and usage on standard error and exits with 2.
   */
  public static <T> T parse(String[] args, Function<String[], T> parser, String name, String usage) {
    try {
      return parser.apply(args);
    } catch (UsageException e) {
      System.err.println(name + ": " + e.getMessage());
      System.err.println("usage: " + usage);
      System.exit(2);
      return null;
    }
  }

  /** value returns args[i], the value of flag, or fails when it is missing. */
  public static String value(String[] args, int i, String flag) {
    if (i >= args.length) {
      throw new UsageException(flag + " needs a value");
    }
    return args[i];
  }

  /** port parses a TCP port, 0 to 65535 (0: pick a free one). */
  public static int port(String s) {
    try {
      int p = Integer.parseInt(s);
      if (p >= 0 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException e) {
      // fall through
    }
    throw new UsageException("bad port " + s);
  }

  /** pid parses a process id. */
  public static long pid(String s) {
    try {
      long p = Long.parseLong(s);
      if (p > 0) {
        return p;
      }
    } catch (NumberFormatException e) {
      // fall through
    }
    throw new UsageException("bad pid " + s);
  }
}
