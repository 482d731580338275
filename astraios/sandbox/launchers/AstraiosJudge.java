import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The tests of a judged Java program (see astraios/sandbox/__init__.py): runs Main.main of the
 * tests, whose calls reach the candidate through AstraiosRemote (fd 3 out, fd 4 in), and reports
 * on fd 5: "done" when it returned normally, a resource-limit marker, "broken: why" when the
 * candidate ended or broke the protocol, else "failed". No code of the candidate runs here.
 */
public final class AstraiosJudge {
    public static void main(String[] args) throws Exception {
        FileOutputStream report = new FileOutputStream("/proc/self/fd/5");
        AstraiosRemote.calls = new BufferedOutputStream(new FileOutputStream("/proc/self/fd/3"));
        AstraiosRemote.replies = new BufferedInputStream(new FileInputStream("/proc/self/fd/4"));
        String outcome = "done";
        try {
            Method main = Class.forName("Main").getMethod("main", String[].class);
            main.invoke(null, (Object) new String[0]);
        } catch (InvocationTargetException e) {
            outcome = failure(e.getCause());
        } catch (ExceptionInInitializerError e) {
            outcome = failure(e.getCause());
        }
        if (AstraiosRemote.broken != null) {
            outcome = "broken: " + AstraiosRemote.broken;
        }
        System.out.flush();
        AstraiosRemote.calls.close(); // the candidate sees the end of its input and exits
        report.write((outcome + "\n").getBytes(StandardCharsets.UTF_8));
        report.close();
        System.exit(outcome.equals("done") ? 0 : 1);
    }

    private static String failure(Throwable cause) {
        StackTraceElement[] frames = cause.getStackTrace();
        int own = 0; // the tests' frames come before the reflective call from this class
        while (own < frames.length && !frames[own].getClassName().matches("(jdk\\.internal|java\\.lang)\\.reflect\\..*")) {
            own++;
        }
        cause.setStackTrace(Arrays.copyOf(frames, own));
        System.err.print("Exception in thread \"main\" ");
        cause.printStackTrace();
        String marker = AstraiosWire.limitMarker(cause);
        return marker != null ? marker : "failed";
    }
}
