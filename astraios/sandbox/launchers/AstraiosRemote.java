import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tests' side of calls to a judged Java candidate (see astraios/sandbox/__init__.py): a proxy
 * class in the tests (e.g. HumanEvalPack's `Solution`, astraios.tasks.humanevalpack) forwards a
 * method with `return AstraiosRemote.call(this, "name", new Object[] {arguments});` (or the class
 * name instead of `this` for a static method). The candidate's instance for a proxy is made on its
 * first call. Only plain data comes back (AstraiosWire), with the final contents of the call's
 * collections and arrays, copied into the tests' own; an exception the candidate raised is
 * rebuilt as the same JDK exception type (else CandidateException), so `catch` and the
 * resource-limit markers behave as in one JVM. A candidate that ends or answers nonsense makes
 * every later call fail with CandidateGone (an Error, which `catch (Exception e)` does not take),
 * and the run fails whatever the tests do next.
 */
public final class AstraiosRemote {
    static OutputStream calls;
    static InputStream replies;
    static String broken;
    private static final Map<Object, Integer> HANDLES = new IdentityHashMap<>();

    private AstraiosRemote() {}

    public static final class CandidateGone extends Error {
        CandidateGone(String message) {
            super(message);
        }
    }

    public static final class CandidateException extends RuntimeException {
        CandidateException(String message) {
            super(message);
        }
    }

    @SuppressWarnings("unchecked")
    public static <T> T call(Object target, String method, Object[] arguments) {
        String className = target instanceof String name ? name : target.getClass().getName();
        Integer handle = null;
        if (!(target instanceof String)) {
            handle = HANDLES.get(target);
            if (handle == null) {
                handle = (Integer) exchange('N', List.of(className), List.of(), className);
                HANDLES.put(target, handle);
            }
        }
        List<Object> values = new ArrayList<>();
        values.add(handle);
        values.addAll(Arrays.asList(arguments));
        return (T) exchange('C', List.of(className, method), values, method);
    }

    private static synchronized Object exchange(char kind, List<String> names, List<Object> values, String what) {
        if (broken != null) {
            throw new CandidateGone(broken);
        }
        AstraiosWire writer = new AstraiosWire();
        ByteBuffer reply;
        try {
            AstraiosWire.send(calls, writer.message(kind, names, values)); // NotPlainData goes to the tests
            reply = AstraiosWire.receive(replies);
        } catch (IOException | AstraiosWire.Malformed e) {
            throw gone("the candidate ended before answering (" + e.getMessage() + ")");
        }
        if (reply == null) {
            throw gone("the candidate ended before answering");
        }
        try {
            char replyKind = (char) reply.get();
            if (replyKind == 'R') {
                return writer.applyReply(AstraiosWire.replyFrom(writer).values(reply)); // may throw what a
                // candidate's change of an unmodifiable argument would have thrown in one JVM
            } else if (replyKind == 'X') {
                String type = AstraiosWire.utf(reply);
                List<Object> message = new AstraiosWire().values(reply);
                if (message.size() == 1 && (message.get(0) == null || message.get(0) instanceof String)) {
                    throw AstraiosRemote.<RuntimeException>sneaky(rebuilt(type, (String) message.get(0), what));
                }
            }
        } catch (AstraiosWire.Malformed | BufferUnderflowException e) {
            throw gone("the candidate sent a malformed message: " + e);
        }
        throw gone("the candidate answered a call with something other than a result");
    }

    private static CandidateGone gone(String why) {
        broken = why;
        return new CandidateGone(why);
    }

    /** The JDK exception of that type with that message (its class only initialised, never one of
     * the candidate's), else CandidateException. */
    private static Throwable rebuilt(String type, String message, String what) {
        if (type.equals(AstraiosWire.NotPlainData.class.getName())) {
            return new AstraiosWire.NotPlainData(what + " answered with " + message);
        }
        if (type.startsWith("java.")) {
            try {
                Class<?> kind = Class.forName(type, false, null);
                if (Throwable.class.isAssignableFrom(kind)) {
                    return (Throwable) kind.getConstructor(String.class).newInstance((Object) message);
                }
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                // not rebuildable: falls through
            }
        }
        return new CandidateException(what + " threw " + type + ": " + message);
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> E sneaky(Throwable exception) throws E {
        throw (E) exception;
    }
}
