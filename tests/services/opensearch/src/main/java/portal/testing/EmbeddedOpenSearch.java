package portal.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch 2.19 for the tests, started in-process from jars on the classpath.
 *
 * <p>A distribution loads its modules (HTTP, common analysis, painless) from {@code modules/};
 * they are not discovered from the classpath, so they are handed to {@link Node} as classpath
 * plugins, as the test framework's {@code MockNode} does. Constructing a {@code Node} directly
 * skips the bootstrap (bootstrap checks, JarHell, security manager, native calls), and needs
 * nothing on disk beyond {@code path.home} and {@code path.data}.
 *
 * <p>Arguments (each may instead be given as a system property {@code -Dportal.opensearch.NAME}):
 * <pre>
 *   --http-port N       HTTP port on 127.0.0.1; 0 (default) picks a free one
 *   --home DIR          path.home (required); created when missing
 *   --data DIR          path.data (default: HOME/data)
 *   --cluster-name NAME (default: portal-test)
 *   --log-level LEVEL   level of the log lines written to stderr (default: WARN)
 *   --watch-stdin       exit when standard input reaches end of file (parent gone)
 *   -Esetting=value     any further node setting, as with the opensearch command
 * </pre>
 *
 * <p>When the HTTP endpoint is bound, and the node has joined its one-node cluster, one line
 * {@code OPENSEARCH_READY http://127.0.0.1:PORT} is printed on stdout; everything else goes to
 * stderr. SIGTERM/SIGINT (and, with {@code --watch-stdin}, end of stdin) close the node cleanly.
 */
public final class EmbeddedOpenSearch {

    public static final String READY_PREFIX = "OPENSEARCH_READY ";

    /** {@link Node}'s constructor taking classpath plugins is protected. */
    static final class TestNode extends Node {
        TestNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
            super(environment, classpathPlugins, true);
        }
    }

    private EmbeddedOpenSearch() {}

    public static void main(String[] args) {
        // Owned by this program: stdout carries only the READY line.
        PrintStream out = System.out;
        System.setOut(System.err);
        Map<String, String> options;
        Map<String, String> extra = new LinkedHashMap<>();
        try {
            options = parse(args, extra);
        } catch (IllegalArgumentException e) {
            System.err.println("embedded-opensearch: " + e.getMessage());
            System.exit(64);
            return;
        }
        // Before any OpenSearch class asks log4j for a logger.
        configureLogging(Level.toLevel(options.get("log-level"), Level.WARN));
        try {
            run(options, extra, out);
        } catch (Throwable t) {
            System.err.println("embedded-opensearch: the node failed to start");
            t.printStackTrace(System.err);
            System.err.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(Map<String, String> options, Map<String, String> extra, PrintStream out) throws Exception {
        Path home = Paths.get(options.get("home")).toAbsolutePath();
        Path data = options.containsKey("data") ? Paths.get(options.get("data")).toAbsolutePath() : home.resolve("data");
        Files.createDirectories(home);
        Files.createDirectories(data);
        Files.createDirectories(home.resolve("logs"));

        Settings.Builder builder = Settings.builder()
            .put("cluster.name", options.getOrDefault("cluster-name", "portal-test"))
            .put("node.name", "portal-test-node")
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", home.resolve("logs").toString())
            // Loopback only, for both HTTP and the (unused) transport layer.
            .put("network.host", "127.0.0.1")
            .put("http.port", options.getOrDefault("http-port", "0"))
            .put("transport.port", "0")
            .put("discovery.type", "single-node")
            // A nearly full disk on a developer machine must not turn the indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // Thread pools sized for a small test machine.
            .put("node.processors", Math.min(2, Runtime.getRuntime().availableProcessors()));
        extra.forEach(builder::put);
        Settings settings = builder.build();

        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), null, () -> "portal-test-node");
        List<Class<? extends Plugin>> plugins = List.of(
            Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class);
        Node node = new TestNode(environment, plugins);

        CountDownLatch stopped = new CountDownLatch(1);
        Thread closer = new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    System.err.println("embedded-opensearch: the node did not close within 30 s");
                }
            } catch (IOException | InterruptedException | RuntimeException e) {
                e.printStackTrace(System.err);
            } finally {
                stopped.countDown();
            }
        }, "embedded-opensearch-shutdown");
        Runtime.getRuntime().addShutdownHook(closer);

        node.start();

        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        int port = -1;
        for (TransportAddress address : http.boundAddress().boundAddresses()) {
            if (address.address().getAddress().isLoopbackAddress()) {
                port = address.getPort();
                break;
            }
        }
        if (port < 0) {
            throw new IllegalStateException("HTTP is not bound to 127.0.0.1: " + http.boundAddress());
        }
        out.println(READY_PREFIX + "http://127.0.0.1:" + port);
        out.flush();

        if (Boolean.parseBoolean(options.getOrDefault("watch-stdin", "false"))) {
            Thread watcher = new Thread(() -> {
                try (InputStream in = System.in) {
                    byte[] buffer = new byte[256];
                    while (in.read(buffer) >= 0) {
                        // Input is ignored; only its end matters.
                    }
                } catch (IOException ignored) {
                    // A broken pipe is an end as well.
                }
                System.exit(0); // runs the shutdown hook
            }, "embedded-opensearch-stdin");
            watcher.setDaemon(true);
            watcher.start();
        }
        stopped.await();
    }

    private static Map<String, String> parse(String[] args, Map<String, String> extra) {
        Map<String, String> options = new LinkedHashMap<>();
        for (String name : List.of("http-port", "home", "data", "cluster-name", "log-level", "watch-stdin")) {
            String value = System.getProperty("portal.opensearch." + name);
            if (value != null) {
                options.put(name, value);
            }
        }
        List<String> rest = new ArrayList<>(List.of(args));
        for (int i = 0; i < rest.size(); i++) {
            String arg = rest.get(i);
            if (arg.startsWith("-E") && arg.contains("=")) {
                String setting = arg.substring(2);
                int eq = setting.indexOf('=');
                extra.put(setting.substring(0, eq), setting.substring(eq + 1));
            } else if (arg.equals("--watch-stdin")) {
                options.put("watch-stdin", "true");
            } else if (arg.startsWith("--")) {
                String name = arg.substring(2);
                String value;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                } else if (i + 1 < rest.size()) {
                    value = rest.get(++i);
                } else {
                    throw new IllegalArgumentException("missing value for --" + name);
                }
                if (!List.of("http-port", "home", "data", "cluster-name", "log-level").contains(name)) {
                    throw new IllegalArgumentException("unknown option --" + name);
                }
                options.put(name, value);
            } else {
                throw new IllegalArgumentException("unexpected argument " + arg);
            }
        }
        if (!options.containsKey("home")) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        String port = options.getOrDefault("http-port", "0");
        if (!port.matches("\\d{1,5}")) {
            throw new IllegalArgumentException("--http-port must be a number (0 picks a free port)");
        }
        return options;
    }

    /** Log lines to stderr, without needing a log4j2 configuration file. */
    private static void configureLogging(Level level) {
        System.setProperty("log4j2.disable.jmx", "true");
        System.setProperty("log4j.shutdownHookEnabled", "false"); // the node logs while it closes
        ConfigurationBuilder<BuiltConfiguration> config = ConfigurationBuilderFactory.newConfigurationBuilder();
        config.setStatusLevel(Level.ERROR);
        config.setConfigurationName("embedded-opensearch");
        config.add(config.newAppender("stderr", "Console")
            .addAttribute("target", ConsoleAppender.Target.SYSTEM_ERR)
            .add(config.newLayout("PatternLayout")
                .addAttribute("charset", StandardCharsets.UTF_8)
                .addAttribute("pattern", "[%d{ISO8601}][%-5p][%c{1.}] %m%n")));
        config.add(config.newRootLogger(level).add(config.newAppenderRef("stderr")));
        Configurator.initialize(config.build());
    }
}
