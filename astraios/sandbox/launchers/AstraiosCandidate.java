import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A judged Java candidate's process (see astraios/sandbox/__init__.py): answers its tests' calls,
 * read from fd 3, on fd 4, in AstraiosWire's format, until the tests close fd 3. A call is
 * `N class` (make an instance with the class's no-argument constructor; the answer is its handle)
 * or `C class method [handle or null, arguments...]` (call the method of that instance, or the
 * static one); the answer is `R [result, then the final contents of the call's collections and
 * arrays]` or `X exception-class [message]`. What the candidate
 * does in here decides nothing: only the plain data it answers reaches the tests.
 */
public final class AstraiosCandidate {
    private static final int MAX_MESSAGE_CHARS = 10_000;

    public static void main(String[] args) throws Exception {
        InputStream calls = new BufferedInputStream(new FileInputStream("/proc/self/fd/3"));
        OutputStream replies = new BufferedOutputStream(new FileOutputStream("/proc/self/fd/4"));
        List<Object> instances = new ArrayList<>();
        ByteBuffer call;
        while ((call = AstraiosWire.receive(calls)) != null) {
            byte[] reply;
            AstraiosWire reader = new AstraiosWire();
            try {
                char kind = (char) call.get();
                String className = AstraiosWire.utf(call);
                if (kind == 'N') {
                    reader.values(call);
                    Constructor<?> constructor = Class.forName(className).getDeclaredConstructor();
                    constructor.setAccessible(true);
                    instances.add(constructor.newInstance());
                    reply = new AstraiosWire().message('R', List.of(), List.of(instances.size() - 1));
                } else {
                    String method = AstraiosWire.utf(call);
                    List<Object> values = reader.values(call);
                    Object target = values.get(0) == null ? null : instances.get((Integer) values.get(0));
                    Class<?> type = target == null ? Class.forName(className) : target.getClass();
                    Object result = invoke(type, method, target, values.subList(1, values.size()).toArray());
                    reply = AstraiosWire.replyTo(reader).reply(result, reader);
                }
            } catch (InvocationTargetException e) {
                reply = raised(e.getCause());
            } catch (Throwable e) { // the constructor, a static initialiser, or a result that cannot cross
                reply = raised(e instanceof java.lang.ExceptionInInitializerError && e.getCause() != null ? e.getCause() : e);
            }
            AstraiosWire.send(replies, reply);
        }
        System.out.flush();
    }

    /** Call the method of that name which takes these arguments (tried in turn: Method.invoke
     * itself refuses arguments of the wrong types). */
    private static Object invoke(Class<?> type, String name, Object target, Object[] arguments) throws Exception {
        Set<Method> methods = new LinkedHashSet<>(List.of(type.getMethods()));
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            methods.addAll(List.of(c.getDeclaredMethods()));
        }
        for (Method method : methods) {
            if (method.getName().equals(name) && method.getParameterCount() == arguments.length) {
                method.setAccessible(true);
                try {
                    return method.invoke(target, arguments);
                } catch (IllegalArgumentException wrongTypes) {
                    continue;
                }
            }
        }
        throw new NoSuchMethodException(type.getName() + "." + name + " taking " + arguments.length + " arguments of these types");
    }

    private static byte[] raised(Throwable cause) throws java.io.IOException {
        StackTraceElement[] frames = cause.getStackTrace();
        int own = 0; // the candidate's frames come before the reflective call from this server
        while (own < frames.length && !frames[own].getClassName().matches("(jdk\\.internal|java\\.lang)\\.reflect\\..*")) {
            own++;
        }
        cause.setStackTrace(java.util.Arrays.copyOf(frames, own));
        cause.printStackTrace();
        String message = cause.getMessage();
        message = message != null && message.length() > MAX_MESSAGE_CHARS ? message.substring(0, MAX_MESSAGE_CHARS) : message;
        return new AstraiosWire().message('X', List.of(cause.getClass().getName()), java.util.Collections.singletonList(message));
    }
}
