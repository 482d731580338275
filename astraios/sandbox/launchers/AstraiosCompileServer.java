import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * A warm javac: reads "SOURCE_FILE<TAB>OUTPUT_DIR<TAB>CLASS_PATH" lines on stdin, compiles each source
 * on its own (no annotation processing, no source path, only that class path) and answers
 * "ok|fail<TAB>N" followed by N bytes of UTF-8 diagnostics. Compiling never runs the program.
 */
public final class AstraiosCompileServer {
    public static void main(String[] args) throws Exception {
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        StandardJavaFileManager files = compiler.getStandardFileManager(null, Locale.ROOT, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            String[] request = line.split("\t");
            StringWriter diagnostics = new StringWriter();
            boolean ok;
            try {
                List<String> options = List.of("-d", request[1], "-classpath", request[2], "-sourcepath", "",
                        "-proc:none", "-implicit:none", "-encoding", "UTF-8", "-nowarn", "-XDsuppressNotes");
                ok = compiler.getTask(diagnostics, files, null, options, null, files.getJavaFileObjects(request[0])).call();
            } catch (RuntimeException e) {
                ok = false;
                e.printStackTrace(new PrintWriter(diagnostics));
            }
            byte[] text = diagnostics.toString().getBytes(StandardCharsets.UTF_8);
            out.print((ok ? "ok" : "fail") + "\t" + text.length + "\n");
            out.write(text);
            out.flush();
        }
    }
}
