<?php
/**
 * Settings › Relatedly: the service URL and admin token when wp-config.php does not define them,
 * the block's options, and what waits in the delivery queue. The token is write-only: the page never
 * prints it (a blank field keeps the saved one).
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The settings page and its "send every published post" action.
 */
final class Relatedly_Admin {

	const PAGE = 'relatedly';

	/**
	 * Hooks the page, the settings and the action.
	 */
	public static function register(): void {
		add_action( 'admin_menu', array( __CLASS__, 'add_page' ) );
		add_action( 'admin_init', array( __CLASS__, 'register_settings' ) );
		add_action( 'admin_post_relatedly_send_all', array( __CLASS__, 'send_all' ) );
		foreach ( array( Relatedly_Settings::OPTION_URL, Relatedly_Settings::OPTION_TOKEN ) as $option ) {
			add_action( "add_option_$option", array( 'Relatedly_Sync', 'schedule_if_waiting' ) );
			add_action( "update_option_$option", array( 'Relatedly_Sync', 'schedule_if_waiting' ) );
		}
	}

	/**
	 * Adds Settings › Relatedly.
	 */
	public static function add_page(): void {
		add_options_page( __( 'Relatedly', 'relatedly' ), __( 'Relatedly', 'relatedly' ), 'manage_options', self::PAGE, array( __CLASS__, 'render_page' ) );
	}

	/**
	 * Declares the options and how each is cleaned.
	 */
	public static function register_settings(): void {
		register_setting( self::PAGE, Relatedly_Settings::OPTION_URL, array( 'sanitize_callback' => 'esc_url_raw' ) );
		register_setting( self::PAGE, Relatedly_Settings::OPTION_PUBLIC_URL, array( 'sanitize_callback' => 'esc_url_raw' ) );
		register_setting( self::PAGE, Relatedly_Settings::OPTION_TOKEN, array( 'sanitize_callback' => array( __CLASS__, 'keep_token_if_blank' ) ) );
		register_setting( self::PAGE, Relatedly_Settings::OPTION_AUTO, array( 'sanitize_callback' => array( __CLASS__, 'checkbox' ) ) );
		register_setting( self::PAGE, Relatedly_Settings::OPTION_LIMIT, array( 'sanitize_callback' => array( __CLASS__, 'limit' ) ) );
		register_setting( self::PAGE, Relatedly_Settings::OPTION_HEADING, array( 'sanitize_callback' => 'sanitize_text_field' ) );
	}

	/**
	 * A blank token field keeps the saved token (the page never shows it).
	 *
	 * @param mixed $value Submitted value.
	 */
	public static function keep_token_if_blank( $value ): string {
		$value = trim( (string) $value );
		return '' === $value ? (string) get_option( Relatedly_Settings::OPTION_TOKEN, '' ) : $value;
	}

	/**
	 * A checkbox as '1' or '0'.
	 *
	 * @param mixed $value Submitted value.
	 */
	public static function checkbox( $value ): string {
		return empty( $value ) ? '0' : '1';
	}

	/**
	 * A story count within what the service accepts.
	 *
	 * @param mixed $value Submitted value.
	 */
	public static function limit( $value ): int {
		return Relatedly_Settings::clamp_limit( (int) $value );
	}

	/**
	 * Queues every servable post (for a site whose archive was not imported into Relatedly).
	 */
	public static function send_all(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to do that.', 'relatedly' ), 403 );
		}
		check_admin_referer( 'relatedly_send_all' );
		$ids = get_posts(
			array(
				'post_type'      => Relatedly_Settings::post_types(),
				'post_status'    => 'publish',
				'has_password'   => false,
				'fields'         => 'ids',
				'posts_per_page' => -1,
				'orderby'        => 'ID',
				'order'          => 'ASC',
			)
		);
		Relatedly_Sync::queue_posts( array_map( 'intval', $ids ) );
		wp_safe_redirect( add_query_arg( 'relatedly_queued', count( $ids ), admin_url( 'options-general.php?page=' . self::PAGE ) ) );
		exit;
	}

	/**
	 * The page.
	 */
	public static function render_page(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$queue = Relatedly_Sync::queue();
		$last  = get_option( Relatedly_Sync::STATUS_OPTION, array() );
		$next  = wp_next_scheduled( Relatedly_Sync::CRON_HOOK );
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Relatedly', 'relatedly' ); ?></h1>
			<?php if ( isset( $_GET['relatedly_queued'] ) ) : // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a count to show. ?>
				<div class="notice notice-success"><p>
					<?php /* translators: %d: number of posts. */ echo esc_html( sprintf( __( '%d published posts are queued; WP-Cron sends them.', 'relatedly' ), absint( $_GET['relatedly_queued'] ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Recommended ?>
				</p></div>
			<?php endif; ?>
			<form method="post" action="options.php">
				<?php settings_fields( self::PAGE ); ?>
				<table class="form-table" role="presentation">
					<?php
					self::url_row( 'RELATEDLY_SERVICE_URL', Relatedly_Settings::OPTION_URL, __( 'Service URL', 'relatedly' ), __( 'Where this server reaches Relatedly, e.g. http://127.0.0.1:8000.', 'relatedly' ) );
					self::url_row( 'RELATEDLY_PUBLIC_URL', Relatedly_Settings::OPTION_PUBLIC_URL, __( 'Public URL', 'relatedly' ), __( 'Where readers\' browsers reach it, for the widget script; blank: the service URL.', 'relatedly' ) );
					?>
					<tr>
						<th scope="row"><label for="relatedly-token"><?php esc_html_e( 'Admin token', 'relatedly' ); ?></label></th>
						<td>
							<?php if ( defined( 'RELATEDLY_ADMIN_TOKEN' ) ) : ?>
								<p><?php esc_html_e( 'Set in wp-config.php (RELATEDLY_ADMIN_TOKEN).', 'relatedly' ); ?></p>
							<?php else : ?>
								<input type="password" id="relatedly-token" name="<?php echo esc_attr( Relatedly_Settings::OPTION_TOKEN ); ?>" value="" autocomplete="new-password" class="regular-text">
								<p class="description"><?php echo esc_html( '' !== Relatedly_Settings::admin_token() ? __( 'A token is saved; leave blank to keep it.', 'relatedly' ) : __( 'The service\'s RELATEDLY_ADMIN_TOKEN. It stays on this server.', 'relatedly' ) ); ?></p>
							<?php endif; ?>
						</td>
					</tr>
					<tr>
						<th scope="row"><?php esc_html_e( 'After the content', 'relatedly' ); ?></th>
						<td>
							<?php if ( defined( 'RELATEDLY_AUTO_INSERT' ) ) : ?>
								<p><?php esc_html_e( 'Set in wp-config.php (RELATEDLY_AUTO_INSERT).', 'relatedly' ); ?></p>
							<?php else : ?>
								<label><input type="checkbox" name="<?php echo esc_attr( Relatedly_Settings::OPTION_AUTO ); ?>" value="1" <?php checked( '1', (string) get_option( Relatedly_Settings::OPTION_AUTO, '1' ) ); ?>>
								<?php esc_html_e( 'Show the related block after every post (otherwise only where the [relatedly] shortcode or the block stands).', 'relatedly' ); ?></label>
							<?php endif; ?>
						</td>
					</tr>
					<tr>
						<th scope="row"><label for="relatedly-limit"><?php esc_html_e( 'Stories', 'relatedly' ); ?></label></th>
						<td><input type="number" min="1" max="<?php echo esc_attr( (string) Relatedly_Settings::MAX_LIMIT ); ?>" id="relatedly-limit" name="<?php echo esc_attr( Relatedly_Settings::OPTION_LIMIT ); ?>" value="<?php echo esc_attr( (string) Relatedly_Settings::limit() ); ?>" class="small-text"></td>
					</tr>
					<tr>
						<th scope="row"><label for="relatedly-heading"><?php esc_html_e( 'Heading', 'relatedly' ); ?></label></th>
						<td><input type="text" id="relatedly-heading" name="<?php echo esc_attr( Relatedly_Settings::OPTION_HEADING ); ?>" value="<?php echo esc_attr( Relatedly_Settings::heading() ); ?>" placeholder="<?php esc_attr_e( 'Related stories', 'relatedly' ); ?>" class="regular-text"></td>
					</tr>
				</table>
				<?php submit_button(); ?>
			</form>
			<h2><?php esc_html_e( 'Delivery', 'relatedly' ); ?></h2>
			<p>
				<?php
				/* translators: %d: number of posts. */
				echo esc_html( sprintf( __( 'Posts waiting to be sent: %d.', 'relatedly' ), count( $queue ) ) );
				if ( $next ) {
					echo ' ' . esc_html( sprintf( /* translators: %s: time span. */ __( 'Next attempt in %s.', 'relatedly' ), human_time_diff( time(), (int) $next ) ) );
				}
				?>
			</p>
			<?php if ( ! empty( $last['time'] ) ) : ?>
				<p>
					<?php
					/* translators: 1: time span, 2: number of posts. */
					echo esc_html( sprintf( __( 'Last delivery %1$s ago: %2$d post(s) sent.', 'relatedly' ), human_time_diff( (int) $last['time'] ), (int) $last['delivered'] ) );
					foreach ( (array) $last['errors'] as $error ) {
						echo '<br>' . esc_html( $error );
					}
					?>
				</p>
			<?php endif; ?>
			<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>">
				<input type="hidden" name="action" value="relatedly_send_all">
				<?php wp_nonce_field( 'relatedly_send_all' ); ?>
				<?php submit_button( __( 'Send every published post', 'relatedly' ), 'secondary', 'submit', false ); ?>
				<p class="description"><?php esc_html_e( 'Only needed when the archive was not imported with relatedly import / train.', 'relatedly' ); ?></p>
			</form>
		</div>
		<?php
	}

	/**
	 * A URL setting's row: a field, or the constant's value when wp-config.php sets it.
	 *
	 * @param string $constant    Constant name.
	 * @param string $option      Option name.
	 * @param string $label       Label.
	 * @param string $description Help text.
	 */
	private static function url_row( string $constant, string $option, string $label, string $description ): void {
		?>
		<tr>
			<th scope="row"><label for="<?php echo esc_attr( $option ); ?>"><?php echo esc_html( $label ); ?></label></th>
			<td>
				<?php if ( defined( $constant ) ) : ?>
					<code><?php echo esc_html( (string) constant( $constant ) ); ?></code>
					<?php /* translators: %s: constant name. */ ?>
					<p class="description"><?php echo esc_html( sprintf( __( 'Set in wp-config.php (%s).', 'relatedly' ), $constant ) ); ?></p>
				<?php else : ?>
					<input type="url" id="<?php echo esc_attr( $option ); ?>" name="<?php echo esc_attr( $option ); ?>" value="<?php echo esc_attr( (string) get_option( $option, '' ) ); ?>" class="regular-text">
					<p class="description"><?php echo esc_html( $description ); ?></p>
				<?php endif; ?>
			</td>
		</tr>
		<?php
	}
}
